"""What a worker process holds: the zoo facade over its device's model manager, the
state sink that writes what the manager does, and the spec source that reads the
registry for it. The process around them (claim, heartbeat, shutdown) is
``inference.worker``'s."""
