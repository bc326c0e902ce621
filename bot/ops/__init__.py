"""Running the estate, not a request: readiness (health), the MIM Service's retention of
residual copies (retention) and the MIM servers' CEIP telemetry opt-out (telemetry)."""
