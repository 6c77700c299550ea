"""The interview as a LangGraph `StateGraph`: ask (interrupt) → interpret → ask again / advance → … → report.

```mermaid
graph LR
  START --> ask
  ask -->|interrupt: wait for the user| interpret
  interpret -->|unclear once / side question / back / revisit a question / restart| ask
  interpret -->|answer / skip / unclear twice| advance
  interpret -->|cancel: pause| END
  advance -->|more questions| ask
  advance -->|last question done| report
  report --> END
```
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from bot.interview.nodes import Deps, ask, make_advance, make_interpret, make_report
from bot.interview.reader import AnswerReader
from bot.interview.rubric import Rubric
from bot.interview.state import InterviewState
from bot.ports import Completer
from bot.report.build import Citer


def build_graph(*, rubric: Rubric, checkpointer: Any, citer: Citer | None = None,
                reader: AnswerReader | None = None, llm: Completer | None = None) -> Any:
    """Compiles the interview graph with the given checkpointer (never at import time)."""
    deps = Deps(rubric=rubric, reader=reader or AnswerReader(), citer=citer, llm=llm)
    total = len(rubric.questions)

    def after_interpret(state: InterviewState) -> Literal["ask", "advance", "__end__"]:
        route = state.get("route", "ask")
        if route == "end":
            return "__end__"
        return "advance" if route == "advance" else "ask"

    def after_advance(state: InterviewState) -> Literal["ask", "report"]:
        return "report" if state.get("index", 0) >= total else "ask"

    builder = StateGraph(InterviewState)
    builder.add_node("ask", ask)
    builder.add_node("interpret", make_interpret(deps))
    builder.add_node("advance", make_advance(deps))
    builder.add_node("report", make_report(deps))
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "interpret")
    builder.add_conditional_edges("interpret", after_interpret)
    builder.add_conditional_edges("advance", after_advance)
    builder.add_edge("report", END)
    return builder.compile(checkpointer=checkpointer)
