"""Every operation, written once as a step generator that the sync and the async API both drive;
modules named like the worker's ``worker/src/ops/`` files that serve them."""
