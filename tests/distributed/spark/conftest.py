"""One SparkSession (``local[2]``) for every Spark test: starting the JVM is the slow part.

pyspark and Java are required, not optional, here: ``make test`` installs both (the ``spark`` extra and
Debian's ``openjdk-17-jre-headless``), so a missing one fails the tests instead of skipping them silently.
"""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail('pyspark is missing: pip install -e ".[spark]" (make test installs it)', pytrace=False)
    if shutil.which("java") is None:
        pytest.fail("java is missing: Spark needs Java 17 (apt-get install openjdk-17-jre-headless)", pytrace=False)
    from lsec.distributed.spark import spark_session

    session = spark_session(
        master="local[2]",
        app_name="lsec-tests",
        partitions=1,  # tiny tables: one shuffle partition, no adaptive re-planning (a swing test asks for 3)
        conf={
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.memory": "1g",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.default.parallelism": "2",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
