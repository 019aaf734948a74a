"""Request and response schemas of the chatbot API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
EntryId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Words = Annotated[list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]],
                  Field(max_length=200)]


class AskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, StringConstraints(max_length=2000)]


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: EntryId
    helpful: bool
    question: Annotated[str, StringConstraints(max_length=500)] = ""


class KbEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: EntryId
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    question: Annotated[Text, StringConstraints(max_length=200)]
    phrasings: Words = []
    keywords: Words = []
    answer: Annotated[Text, StringConstraints(max_length=4000)]


class KbEntryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    question: Annotated[Text, StringConstraints(max_length=200)] | None = None
    phrasings: Words | None = None
    keywords: Words | None = None
    answer: Annotated[Text, StringConstraints(max_length=4000)] | None = None


class MissQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class MissAttach(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[Text, StringConstraints(max_length=200)]
    entry_id: EntryId
