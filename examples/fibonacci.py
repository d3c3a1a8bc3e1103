"""A small example for `infill-lsp complete examples/fibonacci.py:15:5`."""

from functools import lru_cache


@lru_cache(maxsize=None)
def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number (fibonacci(0) == 0, fibonacci(1) == 1)."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)


def is_even(n: int) -> bool:
    
    


if __name__ == "__main__":
    print([fibonacci(i) for i in range(10)], is_even(4))
