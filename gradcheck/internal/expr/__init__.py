"""The expression model: the op table, expression graphs and the parser."""
