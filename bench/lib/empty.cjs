// Intentionally empty: the script a raw child_process.fork() / new Worker() runs in the baselines.
