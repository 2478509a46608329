"""Messages to people other than the one pressing: alerts, notices, reminders, digests, escalations, offers. Each
module renders them, enqueues them in the outbox (storage/domain/outbox.py) in the transaction of the change they tell,
and holds the periodic jobs that produce them (registered in bot/app.py's PERIODIC_JOBS). Conversations
(handlers/*.py) call these; these never call a conversation."""
