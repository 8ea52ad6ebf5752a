"""`python -m llama_cpp.server`, with llama.cpp's extra weight buffer types turned off.

    python -m tests.llm.llama_server --model M.gguf --host 127.0.0.1 --port N ...   (the server's own arguments)

llama.cpp puts a model's weights in "extra" CPU buffer types when it can: AMX tiles on Intel
Xeons whose CPU reports AMX, repacked (interleaved) layouts on AVX2 machines. A wheel built with
native CPU flags on an AMX machine dies there with SIGILL in `ggml_backend_amx_mul_mat` on the
first long prompt. With `use_extra_bufts = False` the weights stay in the plain CPU buffer, so no
AMX or repack kernel is ever dispatched, whatever flags the wheel was built with; the portable
wheel the Makefile builds (no native, no AMX) has no AMX kernel at all, so this is the second lock.

The llama.cpp server of llama-cpp-python 0.3.36 has no setting or flag for it (its ModelSettings
and `Llama(...)` do not pass `use_extra_bufts` through), so this launcher sets it in the default
model parameters every `Llama` starts from, then runs the server's own `__main__` unchanged.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as llama_cpp_c

_default_model_params = llama_cpp_c.llama_model_default_params


def model_params_without_extra_bufts():
    params = _default_model_params()
    params.use_extra_bufts = False
    return params


if __name__ == "__main__":
    llama_cpp_c.llama_model_default_params = model_params_without_extra_bufts
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
