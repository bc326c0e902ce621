"""The estate's data map (GDPR Art. 30): what personal data each system holds, where it
comes from and goes to, how long it stays, and what needs a decision."""
