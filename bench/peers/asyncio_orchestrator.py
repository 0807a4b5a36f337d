#!/usr/bin/env python3
"""The patterns document's orchestrator style, in asyncio: AgentTasks with
dependencies, each started when its dependencies are done.

    python3 asyncio_orchestrator.py fanout 1000000
    python3 asyncio_orchestrator.py chain 100000
"""
import asyncio
import sys
from dataclasses import dataclass, field


@dataclass
class AgentTask:
    agent_id: str
    role: str
    context: dict
    dependencies: list = field(default_factory=list)


class Orchestrator:
    def __init__(self):
        self.tasks = {}
        self.results = {}

    def register_task(self, task):
        self.tasks[task.agent_id] = task

    async def run_agent(self, task, events):
        for dep in task.dependencies:
            await events[dep].wait()
        self.results[task.agent_id] = {"status": "completed", "output": None}
        events[task.agent_id].set()

    async def execute_parallel(self):
        events = {tid: asyncio.Event() for tid in self.tasks}
        await asyncio.gather(*(self.run_agent(t, events) for t in self.tasks.values()))
        return self.results


def main():
    kind, n = sys.argv[1], int(sys.argv[2])
    o = Orchestrator()
    if kind == "fanout":
        for i in range(n):
            o.register_task(AgentTask(f"map_{i}", "Mapper", {"item": i}))
        o.register_task(AgentTask("reduce", "Reducer", {}, [f"map_{i}" for i in range(n)]))
    else:
        o.register_task(AgentTask("t0", "Step", {}))
        for i in range(1, n):
            o.register_task(AgentTask(f"t{i}", "Step", {}, [f"t{i - 1}"]))
    results = asyncio.run(o.execute_parallel())
    print(len(results))


main()
