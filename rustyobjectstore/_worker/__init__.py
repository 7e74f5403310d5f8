"""The worker processes and how calls reach them, knowing no cloud: the frame codec, the
transport, the shared-memory arena, the connection (id -> future), the pool and its life, and the
driver that runs an operation's steps for the sync and the async API. Nothing here imports the
layers above (``_auth``, ``_config``, ``_ops``)."""
