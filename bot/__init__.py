"""私域启动准备度诊断机器人 — a Telegram bot that diagnoses readiness for private-domain operations."""

__version__ = "0.1.0"
