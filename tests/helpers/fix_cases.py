"""Functions with a known bug, shared by the fix tests (unit, CLI, LSP)."""

# `result` starts at 1: both docstring examples fail (got 7 / 1), and the one-line fix is
# `result = 0`.
TOTAL = '''def total(numbers):
    """Sum of the numbers.

    >>> total([1, 2, 3])
    6
    >>> total([])
    0
    """
    result = 1
    for n in numbers:
        result += n
    return result
'''
