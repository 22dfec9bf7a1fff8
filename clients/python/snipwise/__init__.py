"""Snipwise client: `Client` wraps the snipwise.v1 gRPC API.

    from snipwise import Client
    with Client("127.0.0.1:50051", key=open("data/demo.key").read().strip()) as c:
        print(c.get_my_team().display_name)

The generated messages are in `snipwise.v1.*_pb2`; errors raise `SnipwiseError`.
"""
from snipwise.client import Client, SnipwiseError

__all__ = ["Client", "SnipwiseError"]
