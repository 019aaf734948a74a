"""Real-name time-slot bookings (实名分时预约): availability, booking rules, review, check-in, reminders."""
