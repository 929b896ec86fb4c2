"""Remote script of the ``cleaned_orders`` asset: PySpark cleans the sample orders into a table.

The CSV is small, so plain Python reads it (from wherever the run uploaded it) and Spark gets
the rows; Spark casts, trims and de-duplicates them and overwrites the Unity Catalog table.
"""

import csv
import time

from brickpipes_remote import open_pipes

COLUMNS = ("order_id", "order_date", "customer_id", "region", "amount")
PREVIEW_ROWS = 5


def read_csv(path: str) -> list[tuple[str, ...]]:
    """The CSV's rows as tuples of strings, in ``COLUMNS`` order."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [tuple(row[name] for name in COLUMNS) for row in csv.DictReader(handle)]


def clean_orders(spark, rows):
    """Typed orders with trimmed, lower-case regions; rows without an order id are dropped."""
    from pyspark.sql import functions as F

    raw = spark.createDataFrame(rows, schema=", ".join(f"{c} string" for c in COLUMNS))
    return (
        raw.where(F.trim("order_id") != "")
        .select(
            F.col("order_id").cast("bigint").alias("order_id"),
            F.to_date("order_date").alias("order_date"),
            F.trim("customer_id").alias("customer_id"),
            F.lower(F.trim("region")).alias("region"),
            F.col("amount").cast("decimal(10,2)").alias("amount"),
        )
        .dropDuplicates(["order_id"])
    )


def markdown_preview(table) -> str:
    """The first rows of ``table`` as a Markdown table (shown in the Dagster UI)."""
    rows = table.orderBy("order_id").limit(PREVIEW_ROWS).collect()
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    """Write the table, then report what was written and whether every row has a key."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    with open_pipes() as context:
        table_name = context.get_extra("table")
        rows = read_csv(context.get_extra("source_path"))
        context.log.info(f"read {len(rows)} rows; writing {table_name}")
        spark = SparkSession.builder.getOrCreate()  # the cluster's session on Databricks
        started = time.perf_counter()
        clean_orders(spark, rows).write.mode("overwrite").saveAsTable(table_name)
        table = spark.table(table_name)
        row_count = table.count()
        null_keys = table.where(F.col("order_id").isNull()).count()
        spark_seconds = round(time.perf_counter() - started, 2)
        context.log.info(f"wrote {row_count} rows to {table_name} in {spark_seconds} s")
        context.report_asset_check(
            check_name="order_id_not_null",
            passed=null_keys == 0,
            metadata={"null_order_ids": null_keys},
        )
        columns = [{"name": f.name, "type": f.dataType.simpleString()} for f in table.schema]
        schema = {"raw_value": {"columns": columns}, "type": "table_schema"}
        context.report_asset_materialization(
            metadata={
                "dagster/row_count": row_count,
                "dagster/table_name": table_name,
                "dagster/column_schema": schema,
                "dropped_rows": len(rows) - row_count,
                "preview": {"raw_value": markdown_preview(table), "type": "md"},
                "spark_seconds": spark_seconds,
            }
        )


if __name__ == "__main__":
    main()
