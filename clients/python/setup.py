"""Snipwise Python client: generated snipwise.v1 stubs plus a thin wrapper.

Install from the repository (Debian's python3-grpcio and python3-protobuf
provide the runtime; protoc and grpc_python_plugin generate the stubs):

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-deps ./clients/python
"""
import glob
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.environ.get("SNIPWISE_PROTO_ROOT") or os.path.normpath(
    os.path.join(HERE, "..", "..", "proto"))


class BuildWithStubs(build_py):
    """Generates the protobuf and gRPC stubs before the normal build."""

    def run(self):
        protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "snipwise", "v1", "*.proto")))
        protos.append(os.path.join(PROTO_ROOT, "grpc", "health", "v1", "health.proto"))
        if not os.path.exists(protos[0]):
            raise SystemExit("snipwise: protos not found under %s" % PROTO_ROOT)
        out = os.path.join(self.build_lib)
        os.makedirs(out, exist_ok=True)
        subprocess.check_call([
            "protoc", "-I", PROTO_ROOT,
            "--python_out=" + out,
            "--grpc_out=" + out,
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
        ] + protos)
        # The health stubs go to grpc_health/ (like grpcio-health-checking),
        # so that no "grpc" package shadows grpcio.
        src = os.path.join(out, "grpc", "health", "v1")
        dst = os.path.join(out, "grpc_health", "v1")
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            text = open(os.path.join(src, name)).read()
            text = text.replace("from grpc.health.v1 import", "from grpc_health.v1 import")
            with open(os.path.join(dst, name), "w") as f:
                f.write(text)
        subprocess.check_call(["rm", "-rf", os.path.join(out, "grpc")])
        for pkg in ("snipwise/v1", "grpc_health", "grpc_health/v1"):
            open(os.path.join(out, pkg, "__init__.py"), "a").close()
        super().run()


setup(
    name="snipwise",
    version="0.1.0",
    description="Client for Snipwise, the sales-snippet recommendation service",
    packages=["snipwise"],
    package_data={"snipwise": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=["grpcio>=1.51", "protobuf>=3.21"],
    cmdclass={"build_py": BuildWithStubs},
)
