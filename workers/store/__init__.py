"""The system of record: SQLAlchemy models, states, one module per table, the vault and its registry of secret
columns. Only this package imports SQLAlchemy; database errors leave it as workers.errors.Unavailable.
"""
