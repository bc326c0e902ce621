"""Data-subject requests from asking to done: the request model (requests, events,
reports, schema), erasure, rectification and access (erasure, rectification, access,
export_package, export_texts), deciding any of them (decisions, submission, manual),
carrying them out (runner, residual_checks), the deadline clock (deadlines), the keys
that find a person's open request (subject_keys), what waits on a user (home), what the
workflow tells people (notifications/) and the database side (store/)."""
