from shoal.access.records import Decision, LimitReason, UsagePlan

class Buckets:
    def __init__(
        self,
        decision: type[Decision],
        rate: LimitReason,
        day_quota: LimitReason,
        month_quota: LimitReason,
    ) -> None: ...
    def acquire(self, subject: str, plan: UsagePlan, now_us: int) -> Decision: ...
    def counts(self, subject: str, now_us: int) -> tuple[int, int]: ...
