"""The store: SQLAlchemy Core tables, the async engine, migrations and the group committer."""
