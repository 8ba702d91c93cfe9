"""HTTP edge: routes, request/response codecs and the error-to-status mapping."""
