"""llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``), run for the
remote-engine tests with the same llama.cpp model parameters our in-process engine uses: on
CPUs with AMX inside VMs (this project's test machines) llama.cpp's weight repacking crashes on
the first decode, and the stock server has no switch for it.

    python -m tests.helpers.openai_server --model PATH --port N [other llama_cpp.server flags]
"""

from __future__ import annotations

import sys

from lsp_server.engine.llama import extra_buffers_safe, model_params


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    sys.argv[0] = "llama_cpp.server"
    with model_params(extra_buffers=extra_buffers_safe()):
        serve()


if __name__ == "__main__":
    main()
