"""The system of record: SQLAlchemy models, the token vault and the repository functions.

Only this package imports SQLAlchemy.
"""
