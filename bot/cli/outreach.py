"""``fanzha demo [<n or code>] [--auto]``: the outreach scenarios in a terminal.

Without an argument it lists the scenarios; with one it plays that scenario step by step
(Enter goes on, q stops), and after each step shows what the live checker says about the
conversation so far. ``--auto`` plays without waiting, for scripts and tests.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, TextIO

RISK_MARKS = {"high": "🔴", "medium": "🟠", "low": "🟡", "none": "🟢"}
MARK_ON, MARK_OFF = "\033[1;31;43m", "\033[0m"  # red on yellow, for the spans on a terminal


def add_demo_commands(commands: Any) -> None:
    demo = commands.add_parser("demo", help="play the outreach scenarios in the terminal")
    demo.add_argument("scenario", nargs="?", help="the scenario's number or code (none: list them)")
    demo.add_argument("--auto", action="store_true", help="play every step without waiting for Enter")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from knowledge.loader import default_knowledge
    from knowledge.outreach import default_outreach

    kb, outreach = default_knowledge(), default_outreach()
    if not args.scenario:
        print(list_scenarios(kb, outreach))
        return 0
    try:
        scenario = outreach.scenario(args.scenario)
    except KeyError:
        print(f"fanzha demo: no scenario '{args.scenario}'; these are the scenarios:", file=sys.stderr)
        print(list_scenarios(kb, outreach), file=sys.stderr)
        return 2
    from knowledge.checker import Checker

    wait = None if args.auto else _wait_for_enter
    play(scenario, Checker(kb), kb, outreach, sys.stdout, wait, colour=sys.stdout.isatty())
    return 0


def list_scenarios(kb: Any, outreach: Any) -> str:
    lines = []
    for number, scenario in enumerate(outreach.scenarios.values(), 1):
        name = kb.scam_types[scenario.scam_type].name
        lines.append(f"{number:>2}. {scenario.code:<28} {scenario.title}（{name}，{len(scenario.steps)} 步）")
    lines.append("")
    lines.append("播放一个场景: fanzha demo <编号或代码>，例如 fanzha demo 1；不等回车: 加 --auto")
    return "\n".join(lines)


def _wait_for_enter() -> bool:
    """True to go on; False when the presenter types q or the input ends."""
    try:
        return input("  ⏎ 回车继续（q 退出）").strip().lower() != "q"
    except EOFError:
        return False


def marked(text: str, offset: int, spans: list[list[int]], colour: bool) -> str:
    """``text`` with the spans (in conversation coordinates) marked for a terminal."""
    if not colour:
        return text
    out, at = [], 0
    for start, end in spans:
        start, end = max(start - offset, at), min(end - offset, len(text))
        if end <= start:
            continue
        out += [text[at:start], MARK_ON, text[start:end], MARK_OFF]
        at = end
    out.append(text[at:])
    return "".join(out)


def format_view(view: dict[str, Any], advice: bool = True) -> list[str]:
    """The assistant's answer on the conversation so far (see knowledge.outreach_view);
    ``advice=False`` leaves out what to do (when it is what the previous step said)."""
    lines = [f"  【反诈助手】{RISK_MARKS[view['risk']]} 风险等级: {view['risk_colour']}　{view['headline']}"]
    if view["official_line"]:
        lines.append(f"    {view['official_line']}")
    if view["flags"]:
        lines.append("    可疑之处:")
        lines.extend(
            f"      {'＊' if flag['new'] else '-'} 「{flag['text']}」{flag['label']}" for flag in view["flags"]
        )
    if advice:
        lines.append("    该怎么做:")
        lines.extend(f"      {i}. {step}" for i, step in enumerate(view["advice"], 1))
    return lines


def play(scenario: Any, checker: Any, kb: Any, outreach: Any, out: TextIO,
         wait: Callable[[], bool] | None, colour: bool = False) -> int:
    """Play ``scenario`` step by step; returns how many steps were shown."""
    from knowledge.outreach_view import verdict_view

    scam = kb.scam_types[scenario.scam_type]
    out.write(f"{scenario.title}（{scam.name}）\n")
    out.write(f"居民：{scenario.resident}\n对方：{scenario.scammer}\n{scenario.setting}\n")
    shown, said = 0, None
    for upto in range(1, len(scenario.steps) + 1):
        if wait is not None and not wait():
            break
        text, offsets = scenario.conversation(upto)
        view = verdict_view(checker.check(text), kb, outreach, new_from=offsets[-1])
        step = scenario.steps[upto - 1]
        who = f"对方（{step.via}）" if step.who == "scammer" else "居民"
        out.write(f"\n[{upto}/{len(scenario.steps)}] {who}：{marked(step.text, offsets[-1], view['highlights'], colour)}\n")
        out.write("\n".join(format_view(view, advice=view["advice"] != said)) + "\n")
        said = view["advice"]
        out.flush()
        shown = upto
    if shown == len(scenario.steps):
        out.write(f"\n演示结束。记住：{scam.official_line}\n")
    return shown
