"""Learning services: enrolments (opened by payment) and live classes with their reminders."""
