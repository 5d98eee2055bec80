"""The checking: engine proxies, judging, diagnosis, probes and orchestration.

Every engine call goes through `gradcheck.internal.checking.engine_client.Engine`, which
talks to an isolated worker process (`gradcheck.internal.worker`).
"""
