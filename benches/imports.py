"""Import benchmark: tidepool's `import` beside DuckDB (CSV → Parquet) and
connectorx (PostgreSQL and MariaDB → Arrow), measured in the same run on the
same data. Prints wall time, rows per second and each process's peak memory.
Nothing here asserts a speed; the README carries the numbers.

Run through scripts/bench-imports (which builds the release binary)."""

import os
import resource
import subprocess
import sys
import tempfile
import time

TIDEPOOL = sys.argv[1]
ROWS = int(os.environ.get("TIDEPOOL_BENCH_IMPORT_ROWS", "10000000"))
WORK = tempfile.mkdtemp(prefix="tidepool-bench-imports-")
# Plaintext for both tools (tidepool, like libpq, would use TLS when the server offers it).
PG_URL = "postgresql://postgres@127.0.0.1:5432/test?sslmode=disable"
MY_URL = "mysql://root@127.0.0.1:3306/test"


# Runs argv[1:] and prints the child's peak resident memory (KiB) as the last stdout line.
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def child(code_or_args, label):
    """Runs a child process on its own; answers (seconds, its peak RSS in MB)."""
    args = code_or_args if isinstance(code_or_args, list) else [sys.executable, "-c", code_or_args]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(f"  {label} failed: {result.stderr[-2000:]}")
        return None, None
    peak_kib = int(result.stdout.strip().splitlines()[-1])
    return elapsed, peak_kib / 1024


def line(label, seconds, peak_mb):
    if seconds is None:
        return
    memory = f"{peak_mb:,.0f} MB peak memory"
    print(f"  {label:<38} {seconds:7.2f} s  {ROWS / seconds / 1e6:5.2f}M rows/s  {memory}")


def main():
    import duckdb

    csv = os.path.join(WORK, "events.csv")
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT i AS id,
        TIMESTAMP '2026-01-01' + to_seconds(i % 31536000) AS ts,
        'u' || lpad(CAST(i % 100000 AS VARCHAR), 6, '0') AS "user",
        ['DE','US','FR','GB','IN','BR','JP'][1 + i % 7] AS country,
        round((i % 10000) / 100.0, 2) AS amount, i % 5 + 1 AS quantity,
        'note number ' || (i % 977) AS note
      FROM range({ROWS}) t(i)) TO '{csv}' (HEADER)""")
    size = os.path.getsize(csv)
    print(f"import benchmark: {ROWS:,} rows; CSV of {size / 1e9:.2f} GB ({size / ROWS:.0f} bytes a row), 7 columns")

    print("(a) CSV file → stored Parquet table")
    out = os.path.join(WORK, "duck.parquet")
    line("DuckDB COPY read_csv → parquet", *child(
        f"import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet)\")",
        "duckdb"))
    workbook = os.path.join(WORK, "bench.toml")
    with open(workbook, "w") as f:
        f.write(f"""[workbook]
id = "bench-imports"
[[imports]]
name = "events"
source = {{ kind = "file", path = "{csv}" }}
[[imports]]
name = "pq"
source = {{ kind = "file", path = "{out}" }}
[[imports]]
name = "appended"
mode = "append"
source = {{ kind = "file", path = "{out}" }}
[[imports]]
name = "pg"
source = {{ kind = "postgres", url = "{PG_URL}", table = "tidepool_bench_import" }}
timeout = "1h"
[[imports]]
name = "my"
source = {{ kind = "mysql", url = "{MY_URL}", table = "tidepool_bench_import" }}
timeout = "1h"
""")
    data = os.path.join(WORK, "state")
    line("tidepool import (file)", *child([TIDEPOOL, "--data-dir", data, "import", workbook, "events"], "tidepool"))

    print("(c) Parquet file (DuckDB's, row groups of 122,880) → stored Parquet table")
    again = os.path.join(WORK, "duck-again.parquet")
    line("DuckDB COPY read_parquet → parquet", *child(
        f"import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM read_parquet('{out}')) TO '{again}' (FORMAT parquet)\")",
        "duckdb parquet"))
    line("tidepool import (Parquet)", *child([TIDEPOOL, "--data-dir", data, "import", workbook, "pq"], "tidepool pq"))
    print("(d) append: a second run adds the file's rows to a version of as many rows (memory: bounded by a row group?)")
    subprocess.run([TIDEPOOL, "--data-dir", data, "import", workbook, "appended"], check=True, capture_output=True)
    line("tidepool import (append, 2nd run)", *child([TIDEPOOL, "--data-dir", data, "import", workbook, "appended"], "tidepool append"))

    print("(b) database table → Arrow (connectorx) / stored Parquet table (tidepool)")
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c",
        "DROP TABLE IF EXISTS tidepool_bench_import; CREATE TABLE tidepool_bench_import AS "
        f"SELECT i AS id, timestamp '2026-01-01' + make_interval(secs => i % 31536000) AS ts, "
        "'u' || lpad((i % 100000)::text, 6, '0') AS \"user\", (ARRAY['DE','US','FR','GB','IN','BR','JP'])[1 + i % 7] AS country, "
        f"round((i % 10000) / 100.0, 2)::numeric(10,2) AS amount, (i % 5 + 1)::int AS quantity, 'note number ' || (i % 977) AS note "
        f"FROM generate_series(0, {ROWS - 1}) AS i"], check=True)
    line("connectorx PostgreSQL → Arrow", *child(
        f"import connectorx as cx; t = cx.read_sql('{PG_URL}', 'SELECT * FROM tidepool_bench_import', return_type='arrow'); assert t.num_rows == {ROWS}",
        "connectorx pg"))
    line("tidepool import (PostgreSQL)", *child([TIDEPOOL, "--data-dir", data, "import", workbook, "pg"], "tidepool pg"))
    subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "test", "-e",
        "DROP TABLE IF EXISTS tidepool_bench_import; CREATE TABLE tidepool_bench_import AS "
        "SELECT seq AS id, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (seq % 31536000) SECOND AS ts, "
        "CONCAT('u', LPAD(seq % 100000, 6, '0')) AS user, ELT(1 + seq % 7, 'DE','US','FR','GB','IN','BR','JP') AS country, "
        "CAST((seq % 10000) / 100.0 AS DECIMAL(10,2)) AS amount, CAST(seq % 5 + 1 AS INT) AS quantity, CONCAT('note number ', seq % 977) AS note "
        f"FROM seq_0_to_{ROWS - 1}"], check=True)
    line("connectorx MariaDB → Arrow", *child(
        f"import connectorx as cx; t = cx.read_sql('{MY_URL}', 'SELECT * FROM tidepool_bench_import', return_type='arrow'); assert t.num_rows == {ROWS}",
        "connectorx my"))
    line("tidepool import (MariaDB)", *child([TIDEPOOL, "--data-dir", data, "import", workbook, "my"], "tidepool my"))


main()
