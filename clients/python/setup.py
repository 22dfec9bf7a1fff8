"""Snipwise Python client: generated snipwise.v1 stubs plus a thin wrapper.

The stubs ship inside the package (snipwise/v1/*_pb2*.py): a wheel or an
sdist built here carries them, so installing either needs no protoc, no
grpc_tools and no .proto files, only grpcio and protobuf at run time.
Building from the repository generates them from proto/ with Debian's
protoc and grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc);
building from an sdist uses the copies in it.

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation --no-deps ./clients/python
    python3 -m pip wheel --no-build-isolation --no-deps -w dist ./clients/python
    python3 setup.py sdist          # from clients/python
"""
import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.environ.get("SNIPWISE_PROTO_ROOT") or os.path.normpath(
    os.path.join(HERE, "..", "..", "proto"))
PLUGIN = "/usr/bin/grpc_python_plugin"
# The stubs of an sdist, beside the wrapper; absent in the repository.
SHIPPED = os.path.join(HERE, "snipwise", "v1", "suggest_pb2_grpc.py")


def generate_stubs(out):
    """Writes snipwise/v1/*_pb2.py, their type stubs *_pb2.pyi and
    *_pb2_grpc.py under out from the
    snipwise.v1 protos. grpc.health.v1 is not generated: the client speaks
    it by hand (snipwise/client.py), so that the package adds no top-level
    module beside grpcio's own (grpcio-health-checking's grpc_health)."""
    protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "snipwise", "v1",
                                           "*.proto")))
    if not protos:
        raise SystemExit("snipwise: no protos under %s (set SNIPWISE_PROTO_ROOT"
                         " or build from an sdist, which carries the stubs)"
                         % PROTO_ROOT)
    protoc = shutil.which("protoc")
    if protoc is None or not os.access(PLUGIN, os.X_OK):
        raise SystemExit("snipwise: generating the stubs needs protoc and %s "
                         "(Debian: protobuf-compiler protobuf-compiler-grpc)"
                         % PLUGIN)
    os.makedirs(out, exist_ok=True)
    subprocess.check_call([
        protoc, "-I", PROTO_ROOT, "--python_out=" + out, "--pyi_out=" + out,
        "--grpc_out=" + out, "--plugin=protoc-gen-grpc=" + PLUGIN] + protos)
    open(os.path.join(out, "snipwise", "v1", "__init__.py"), "a").close()


class BuildWithStubs(build_py):
    """From the repository, generates the stubs into the build directory
    before the normal build; from an sdist, the shipped ones are built as
    any module."""

    def run(self):
        if not os.path.exists(SHIPPED):
            generate_stubs(self.build_lib)
        super().run()


class SdistWithStubs(sdist):
    """Puts the generated stubs into the sdist, so that building or
    installing it needs no protoc."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        if not os.path.exists(SHIPPED):
            generate_stubs(base_dir)


setup(
    name="snipwise",
    version="0.1.0",
    description="Client for Snipwise, the sales-snippet recommendation service",
    long_description=open(os.path.join(HERE, "README.md"),
                          encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=["snipwise"] + (["snipwise.v1"] if os.path.exists(SHIPPED)
                             else []),
    package_data={"snipwise": ["py.typed"], "snipwise.v1": ["*.pyi"]},
    python_requires=">=3.9",
    install_requires=["grpcio>=1.51", "protobuf>=3.21"],
    cmdclass={"build_py": BuildWithStubs, "sdist": SdistWithStubs},
)
