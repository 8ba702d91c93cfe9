"""The Open Inference Protocol (KServe V2) REST API, with the binary tensor extension."""
