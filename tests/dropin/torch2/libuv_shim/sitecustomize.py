"""Makes PyTorch 2.x's TCPStore follow USE_LIBUV where PyTorch forgets to pass it.

Debian's python3-torch 2.x is built without libuv, and TCPStore's default
use_libuv=True raises "use_libuv was requested but PyTorch was build without
libuv support". USE_LIBUV=0 fixes the paths that read it, but two call sites in
PyTorch 2.6 construct TCPStore without use_libuv at all, so no setting helps:
  - torch.distributed.rendezvous._create_c10d_store with
    TORCHELASTIC_USE_AGENT_STORE=True (every rank's client of the agent store:
    torchrun 2.x's default, and tplaunch --torch-store agent);
  - torchrun's rendezvous backends (c10d_rendezvous_backend and
    dynamic_rendezvous's shared store server; static_tcp_rendezvous), so
    torchrun 2.6 fails at start, `--standalone` or `--rdzv-backend static`.
With a pip wheel (which has libuv) all of them work unchanged. This module, put
on PYTHONPATH inside the scripts/torch2_root.sh root, replaces TCPStore in
torch.distributed and in the modules that imported it by name with a subclass
whose use_libuv defaults to USE_LIBUV (default "1", as PyTorch reads it), so the
same unmodified scripts and torchrun run on Debian's build. It patches nothing
until those modules are imported, and imports no torch itself.
"""
import importlib.abc
import importlib.machinery
import os
import sys

# Debian's own sitecustomize (apport's hook), which this file shadows on sys.path.
try:
    import apport_python_hook
except ImportError:
    pass
else:
    apport_python_hook.install()

_MODULES = {"torch.distributed", "torch.distributed.rendezvous",
            "torch.distributed.elastic.rendezvous.c10d_rendezvous_backend",
            "torch.distributed.elastic.rendezvous.static_tcp_rendezvous"}
_subclass = []  # the one subclass, made from the first original seen


def _tcpstore_following_use_libuv(tcpstore):
    if _subclass and (tcpstore is _subclass[0] or tcpstore is _subclass[0].__base__):
        return _subclass[0]

    class TCPStore(tcpstore):
        __doc__ = tcpstore.__doc__

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("use_libuv", os.environ.get("USE_LIBUV", "1") == "1")
            super().__init__(*args, **kwargs)

    _subclass.append(TCPStore)
    return TCPStore


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module.TCPStore = _tcpstore_following_use_libuv(module.TCPStore)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in _MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())
