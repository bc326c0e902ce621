"""What the workflow tells people, as protocols the front ends implement (notify,
delivery of an access package), every notification audited (audited), and the daily
digest's content (digest)."""
