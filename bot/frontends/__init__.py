"""The front ends: how people and processes reach the domain. Only they import handlers.

slack_app.py       the Bolt app (slash command, buttons, the reject modal)
http_server.py     HTTP serving of the Bolt app
slack_notifier.py  workflow messages through Slack's Web API
console.py         the console and demo: the same handlers, answers printed
dispatch.py        the one error boundary every command passes
worker.py          the background loop: resume runs, expire, re-verify residuals
cli.py             `python -m bot ...`
"""
