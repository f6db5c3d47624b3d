"""`python -m pipeline.services.mlflow_cli ARGS`: `mlflow ARGS` under the lock's SQLAlchemy 1.4.

Airflow 2.11 pins SQLAlchemy below 2, and MLflow 3.17's server modules annotate functions with
names SQLAlchemy only exports at top level from 2.0 on (`sa.Engine`, `sa.ColumnElement`, ...), so
`mlflow server` dies at import. The objects exist in 1.4 under their submodules: alias them there,
then hand over to MLflow's own command line. The tracking and registry stores work unchanged.
"""

from __future__ import annotations

import sys


def alias_sqlalchemy_2_names() -> None:
    """Expose SQLAlchemy 1.4's Engine, Connection, Row, ColumnElement, Select and Update at top level."""
    import sqlalchemy
    import sqlalchemy.engine
    import sqlalchemy.orm
    import sqlalchemy.sql.expression

    names = {"Engine": sqlalchemy.engine.Engine, "Connection": sqlalchemy.engine.Connection,
             "Row": sqlalchemy.engine.Row, "ColumnElement": sqlalchemy.sql.expression.ColumnElement,
             "Select": sqlalchemy.sql.expression.Select, "Update": sqlalchemy.sql.expression.Update}
    for name, value in names.items():
        if not hasattr(sqlalchemy, name):
            setattr(sqlalchemy, name, value)


def main() -> None:
    """Run MLflow's CLI with the aliases in place."""
    alias_sqlalchemy_2_names()
    from mlflow.cli import cli

    cli(args=sys.argv[1:], prog_name="mlflow")


if __name__ == "__main__":
    main()
