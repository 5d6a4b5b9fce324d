"""Counting the INSERT statements a piece of code sends, for tests that pin statement sizes."""


class InsertCounter:
    """``connection.execute_wrapper``: (table, parameters) of each INSERT sent; an executemany sends several."""

    def __init__(self):
        self.statements: list[tuple[str, int]] = []

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("INSERT"):
            table = sql.split('"')[1]
            self.statements.extend((table, len(one)) for one in (params if many else [params]))
        return execute(sql, params, many, context)
