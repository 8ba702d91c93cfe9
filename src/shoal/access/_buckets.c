/* shoal.access._buckets: the in-memory limiter's buckets and counters, and its rule, in C.
 *
 * The same rule as shoal/access/limiter.py (refill, then decide, then count an allowed
 * request), with the same floating-point steps in the same order, so that every decision is
 * bit for bit the one the Python rule makes (tests/unit/access/test_limiter_fast_path.py
 * holds the two to each other on random traffic). Only the windows' identities differ: a day
 * and a month are named here by their first microsecond, not by "YYYY-MM-DD" strings.
 *
 * Why C: on the serving hot path the Python limiter was a third of what keys + usage plans
 * cost per request (~9,000 instructions for a dict lookup, a refill and three counters).
 *
 * Thread safety: every method runs with the GIL held and calls no Python code while it reads
 * or writes a bucket (subjects must be exact str, whose hashing and comparison are C; all
 * Python objects a method builds are made before or after its critical section), so each
 * call is atomic, as the Python limiter's lock makes its own. Free-threaded builds (no GIL)
 * are refused at compile time; the Python limiter serves there.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef Py_GIL_DISABLED
#error "shoal.access._buckets relies on the GIL; free-threaded builds use the Python limiter"
#endif

#include <math.h>

#define EPSILON 1e-9 /* as limiter.EPSILON */
#define DAY_US 86400000000LL

/* ---- UTC calendar windows ------------------------------------------------------------- */

typedef struct {
    long long day_start_us, day_reset_us, month_start_us, month_reset_us;
} Span;

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static void
civil_from_days(long long z, long long *year, unsigned *month)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (long long)yoe + era * 400 + (*month <= 2);
}

static Span
span_of(long long now_us)
{
    Span span;
    long long day = floor_div(now_us, DAY_US), year;
    unsigned month;
    civil_from_days(day, &year, &month);
    span.day_start_us = day * DAY_US;
    span.day_reset_us = span.day_start_us + DAY_US;
    span.month_start_us = days_from_civil(year, month, 1) * DAY_US;
    span.month_reset_us =
        days_from_civil(month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1) * DAY_US;
    return span;
}

/* ---- one subject's bucket ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *plan; /* the plan the limits below were read from (a strong reference) */
    double rate_per_s, burst;
    long long quota_per_day, quota_per_month; /* -1: no quota */
    double tokens;
    long long last_us, day_start_us, day_used, month_start_us, month_used;
} Bucket;

static void
bucket_dealloc(Bucket *self)
{
    Py_XDECREF(self->plan);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject BucketType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shoal.access._buckets.Bucket",
    .tp_basicsize = sizeof(Bucket),
    .tp_dealloc = (destructor)bucket_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One subject's bucket and quota counters (internal).",
};

typedef struct {
    PyObject *plan;
    double rate_per_s, burst;
    long long quota_per_day, quota_per_month;
} Limits;

static PyObject *name_rate, *name_burst, *name_day, *name_month;

static int
read_count(PyObject *plan, PyObject *name, long long *out, int optional)
{
    PyObject *value = PyObject_GetAttr(plan, name);
    if (value == NULL)
        return -1;
    if (optional && value == Py_None) {
        Py_DECREF(value);
        *out = -1;
        return 0;
    }
    *out = PyLong_AsLongLong(value);
    Py_DECREF(value);
    if (*out == -1 && PyErr_Occurred())
        return -1;
    if (*out < 0 || *out > (1LL << 53)) {
        PyErr_Format(PyExc_ValueError, "plan %R limit out of range: %lld", name, *out);
        return -1;
    }
    return 0;
}

/* A plan's limits; may run Python code (attribute lookups), so never inside a critical section. */
static int
read_limits(PyObject *plan, Limits *limits)
{
    long long burst;
    PyObject *rate = PyObject_GetAttr(plan, name_rate);
    if (rate == NULL)
        return -1;
    limits->rate_per_s = PyFloat_AsDouble(rate);
    Py_DECREF(rate);
    if (limits->rate_per_s == -1.0 && PyErr_Occurred())
        return -1;
    if (!(isfinite(limits->rate_per_s) && limits->rate_per_s > 0)) {
        PyErr_Format(PyExc_ValueError, "plan rate_per_s must be positive and finite");
        return -1;
    }
    if (read_count(plan, name_burst, &burst, 0) < 0 ||
        read_count(plan, name_day, &limits->quota_per_day, 1) < 0 ||
        read_count(plan, name_month, &limits->quota_per_month, 1) < 0)
        return -1;
    limits->burst = (double)burst;
    limits->plan = plan;
    return 0;
}

/* The plan the bucket had (to release after the critical section: freeing may run code). */
static PyObject *
set_limits(Bucket *bucket, const Limits *limits)
{
    PyObject *old = bucket->plan;
    Py_INCREF(limits->plan);
    bucket->plan = limits->plan;
    bucket->rate_per_s = limits->rate_per_s;
    bucket->burst = limits->burst;
    bucket->quota_per_day = limits->quota_per_day;
    bucket->quota_per_month = limits->quota_per_month;
    return old;
}

/* ---- the table ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *buckets; /* subject (exact str) -> Bucket */
    PyTypeObject *decision;
    PyObject *reasons[3]; /* LimitReason.RATE, DAY_QUOTA, MONTH_QUOTA */
    PyObject *zero;       /* 0.0: every allowed decision's retry_after_s */
    Span span;            /* of the last instant asked for */
} Buckets;

static int
buckets_init(Buckets *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"decision", "rate", "day_quota", "month_quota", NULL};
    PyObject *decision, *rate, *day, *month;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O!OOO:Buckets", keywords, &PyType_Type, &decision, &rate, &day, &month))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)decision, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "decision must be a tuple type (a NamedTuple)");
        return -1;
    }
    Py_XSETREF(self->buckets, PyDict_New());
    if (self->buckets == NULL)
        return -1;
    Py_XSETREF(self->zero, PyFloat_FromDouble(0.0));
    if (self->zero == NULL)
        return -1;
    Py_INCREF(decision);
    Py_XSETREF(self->decision, (PyTypeObject *)decision);
    PyObject *reasons[3] = {rate, day, month};
    for (int i = 0; i < 3; i++) {
        Py_INCREF(reasons[i]);
        Py_XSETREF(self->reasons[i], reasons[i]);
    }
    self->span.day_start_us = self->span.day_reset_us = 0; /* contains no instant */
    return 0;
}

static void
buckets_dealloc(Buckets *self)
{
    Py_XDECREF(self->buckets);
    Py_XDECREF(self->decision);
    Py_XDECREF(self->zero);
    for (int i = 0; i < 3; i++)
        Py_XDECREF(self->reasons[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* PyLong_AsLong reads an int's digits inline; PyLong_AsLongLong goes through a byte array. */
#if SIZEOF_LONG >= 8
#define as_long_long PyLong_AsLong
#else
#define as_long_long PyLong_AsLongLong
#endif

static int
parse(Buckets *self, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *name,
      long long *now_us)
{
    if (self->buckets == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s(): Buckets.__init__ was not called", name);
        return -1;
    }
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, want, nargs);
        return -1;
    }
    if (!PyUnicode_CheckExact(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s(): the subject must be a str", name);
        return -1;
    }
    *now_us = as_long_long(args[nargs - 1]);
    return (*now_us == -1 && PyErr_Occurred()) ? -1 : 0;
}

static const Span *
span_at(Buckets *self, long long now_us)
{
    if (!(self->span.day_start_us <= now_us && now_us < self->span.day_reset_us))
        self->span = span_of(now_us);
    return &self->span;
}

static long long
whole_tokens(double tokens)
{
    double whole = floor(tokens + EPSILON);
    return whole > 0 ? (long long)whole : 0;
}

static PyObject *
new_decision(Buckets *self, int allowed, double wait, long long remaining, int reason)
{
    PyObject *retry = allowed ? Py_NewRef(self->zero) : PyFloat_FromDouble(wait);
    PyObject *left = PyLong_FromLongLong(remaining);
    PyObject *decision = self->decision->tp_alloc(self->decision, 4);
    if (retry == NULL || left == NULL || decision == NULL) {
        Py_XDECREF(retry);
        Py_XDECREF(left);
        Py_XDECREF(decision);
        return NULL;
    }
    PyTuple_SET_ITEM(decision, 0, Py_NewRef(allowed ? Py_True : Py_False));
    PyTuple_SET_ITEM(decision, 1, retry);
    PyTuple_SET_ITEM(decision, 2, left);
    PyTuple_SET_ITEM(decision, 3, Py_NewRef(reason < 0 ? Py_None : self->reasons[reason]));
    return decision;
}

PyDoc_STRVAR(acquire_doc,
"acquire(subject, plan, now_us) -> Decision\n\n"
"Take one request from subject's bucket under plan at now_us (epoch microseconds); an\n"
"allowed request takes a token and counts towards both quotas.");

static PyObject *
buckets_acquire(Buckets *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long now_us;
    if (parse(self, args, nargs, 3, "acquire", &now_us) < 0)
        return NULL;
    PyObject *subject = args[0], *plan = args[1];
    Limits limits = {NULL, 0.0, 0.0, -1, -1};

    /* Python may run here (the plan's attributes), before the critical section. */
    Bucket *bucket = (Bucket *)PyDict_GetItemWithError(self->buckets, subject);
    if (bucket == NULL && PyErr_Occurred())
        return NULL;
    if (bucket == NULL || bucket->plan != plan) {
        if (read_limits(plan, &limits) < 0)
            return NULL;
    }

    /* The critical section: no Python code, no allocation that could start a collection. */
    const Span *span = span_at(self, now_us);
    PyObject *old_plan = NULL;
    if (limits.plan != NULL) { /* Python ran: look again */
        bucket = (Bucket *)PyDict_GetItemWithError(self->buckets, subject);
        if (bucket == NULL && PyErr_Occurred())
            return NULL;
    }
    if (bucket == NULL || bucket->plan != plan) { /* then the limits were read above */
        if (bucket == NULL) {
            bucket = PyObject_New(Bucket, &BucketType); /* not GC-tracked: starts nothing */
            if (bucket == NULL)
                return NULL;
            bucket->plan = NULL;
            set_limits(bucket, &limits);
            bucket->tokens = limits.burst;
            bucket->last_us = now_us;
            bucket->day_start_us = span->day_start_us;
            bucket->month_start_us = span->month_start_us;
            bucket->day_used = bucket->month_used = 0;
            int stored = PyDict_SetItem(self->buckets, subject, (PyObject *)bucket);
            Py_DECREF(bucket); /* the table holds it */
            if (stored < 0)
                return NULL;
        }
        else
            old_plan = set_limits(bucket, &limits);
    }

    /* refill: the same operations in the same order as limiter.refill */
    double tokens = bucket->tokens;
    if (now_us > bucket->last_us) {
        tokens = tokens + (double)(now_us - bucket->last_us) * bucket->rate_per_s / 1e6;
        bucket->last_us = now_us;
    }
    if (tokens > bucket->burst)
        tokens = bucket->burst;
    if (bucket->day_start_us != span->day_start_us) {
        bucket->day_start_us = span->day_start_us;
        bucket->day_used = 0;
    }
    if (bucket->month_start_us != span->month_start_us) {
        bucket->month_start_us = span->month_start_us;
        bucket->month_used = 0;
    }

    /* decide: as limiter.decide, the first limit with the strictly longest wait names it */
    double wait = 0.0;
    int reason = -1;
    if (tokens < 1.0 - EPSILON) {
        wait = (1.0 - tokens) / bucket->rate_per_s;
        reason = 0;
    }
    if (bucket->quota_per_day >= 0 && bucket->day_used >= bucket->quota_per_day) {
        double left = (double)(span->day_reset_us - now_us) / 1e6;
        if (reason < 0 || left > wait) {
            wait = left;
            reason = 1;
        }
    }
    if (bucket->quota_per_month >= 0 && bucket->month_used >= bucket->quota_per_month) {
        double left = (double)(span->month_reset_us - now_us) / 1e6;
        if (reason < 0 || left > wait) {
            wait = left;
            reason = 2;
        }
    }
    int allowed = reason < 0;
    long long remaining;
    if (allowed) {
        bucket->tokens = tokens - 1.0;
        bucket->day_used += 1;
        bucket->month_used += 1;
        remaining = whole_tokens(tokens - 1.0);
    }
    else {
        bucket->tokens = tokens;
        remaining = whole_tokens(tokens);
    }
    /* The critical section ends: what follows may run Python (a collection, a release). */
    Py_XDECREF(old_plan);
    return new_decision(self, allowed, wait, remaining, reason);
}

PyDoc_STRVAR(counts_doc,
"counts(subject, now_us) -> (day_used, month_used)\n\n"
"Requests counted in the day and month windows now_us falls in (0 for a window the\n"
"subject's counters are not in).");

static PyObject *
buckets_counts(Buckets *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long now_us, day = 0, month = 0;
    if (parse(self, args, nargs, 2, "counts", &now_us) < 0)
        return NULL;
    Bucket *bucket = (Bucket *)PyDict_GetItemWithError(self->buckets, args[0]);
    if (bucket == NULL && PyErr_Occurred())
        return NULL;
    if (bucket != NULL) {
        Span span = span_of(now_us);
        day = bucket->day_start_us == span.day_start_us ? bucket->day_used : 0;
        month = bucket->month_start_us == span.month_start_us ? bucket->month_used : 0;
    }
    return Py_BuildValue("(LL)", day, month);
}

static PyMethodDef buckets_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))buckets_acquire, METH_FASTCALL, acquire_doc},
    {"counts", (PyCFunction)(void (*)(void))buckets_counts, METH_FASTCALL, counts_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BucketsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shoal.access._buckets.Buckets",
    .tp_basicsize = sizeof(Buckets),
    .tp_dealloc = (destructor)buckets_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Buckets(decision, rate, day_quota, month_quota): every subject's bucket and\n"
              "quota counters, and the limiting rule, in C.",
    .tp_methods = buckets_methods,
    .tp_init = (initproc)buckets_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shoal.access._buckets",
    .m_doc = "The in-memory limiter's buckets and rule in C (see shoal.access.limiter).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__buckets(void)
{
    if (PyType_Ready(&BucketType) < 0 || PyType_Ready(&BucketsType) < 0)
        return NULL;
    name_rate = PyUnicode_InternFromString("rate_per_s");
    name_burst = PyUnicode_InternFromString("burst");
    name_day = PyUnicode_InternFromString("quota_per_day");
    name_month = PyUnicode_InternFromString("quota_per_month");
    if (!name_rate || !name_burst || !name_day || !name_month)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Buckets", (PyObject *)&BucketsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
