"""The domain: one module per aggregate, each a set of operations over an AsyncSession (one intent, one call, in
the caller's transaction), with the rules, life cycles and permissions of the service. Persistence is next door:
storage/db.py, storage/models/, storage/migrations/; the editors' files are storage/content/; personal data's
registry is storage/personal_data/."""
