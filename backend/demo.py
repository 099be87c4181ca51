"""Deterministic demo dataset: a Lyon heating and plumbing firm and its clients.

``generate`` fills an empty database with one business unit ("Rhône Chauffage
Services"), its technicians (working hours, absences), clients (contacts, sites
around Lyon), forms, activity types with portal actions, and activities in every
status spread from a month ago to three weeks ahead, each with its follow-up
steps and, where the client may sign a quote, the company's quote (some with
a PDF; ``backend/demo_quotes.py``). The same seed and the same ``now`` always
give the same rows, so a field demo and a test see identical data.

Visits are packed per technician-day in chronological order, with the travel
time of the business unit's own travel model (distance x circuity / speed)
between sites, inside working hours and outside absences, so the scheduling
engine later sees feasible days.

Large sizes (``DemoSize(technicians=1000, clients=20000, activities=100000)``)
are written with bulk inserts in chunks.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time as time_module
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, MetaData, distinct, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.contacts import normalize_email, normalize_phone
from backend.core.config import Settings
from backend.core.db import make_engine, make_sessionmaker, upgrade
from backend.demo_documents import seed_documents
from backend.demo_quotes import insert_quotes, quote_type_names
from backend.domain import ActivityTypePortal, BookingSettings, FormSpec
from backend.models import (
    Absence,
    Activity,
    ActivityStep,
    ActivityType,
    Base,
    BusinessUnit,
    Client,
    ClientContact,
    FormDefinition,
    LoginLink,
    NotificationTrigger,
    Site,
    Technician,
    utcnow,
)
from backend.services.auth import issue_permanent_link
from backend.services.feed import refresh_client
from backend.services.triggers.config import seed_rows as trigger_rows

TIMEZONE = "Europe/Paris"
TZ = ZoneInfo(TIMEZONE)
LYON_CENTER = (45.7640, 4.8357)
PAST_DAYS = 30
FUTURE_DAYS = 21
CHUNK = 10_000

# Shares of the activity count (the rest is packed into technicians' days).
TO_SCHEDULE_SHARE = 0.12
PAST_CANCELLED_SHARE = 0.10
FUTURE_CANCELLED_SHARE = 0.06
RESCHEDULED_SHARE = 0.10
DISABLED_CLIENT_SHARE = 0.08
ENGLISH_CLIENT_SHARE = 0.15
COMPANY_SHARE = 0.12
TWO_SITES_SHARE = 0.25
# Technicians working today who are mid-visit at ``now`` (in_progress activities).
IN_PROGRESS_TECH_SHARE = 0.25


class DemoError(RuntimeError):
    """The demo dataset cannot be generated (e.g. the database is not empty)."""


@dataclass
class DemoSize:
    """How much data to generate; ``seed`` drives every random choice."""

    technicians: int = 8
    clients: int = 60
    activities: int = 220
    seed: int = 42


@dataclass
class DemoSummary:
    """What a demo database holds, and a client to sign in with."""

    business_unit_id: int
    business_unit_name: str
    technicians: int
    clients: int
    contacts: int
    sites: int
    absences: int
    forms: int
    activity_types: int
    activities: int
    steps: int
    activities_by_status: dict[str, int] = field(default_factory=dict)
    example_client_id: int | None = None
    example_client_email: str | None = None
    example_client_phone: str | None = None
    disabled_client_id: int | None = None
    created: bool = False


# --- reference data ---------------------------------------------------------


@dataclass(frozen=True)
class Place:
    city: str
    postal_code: str
    latitude: float
    longitude: float
    streets: tuple[str, ...]
    weight: float = 1.0


# Real communes and arrondissements of the Lyon area with real street names;
# coordinates are the neighbourhood centres, jittered by a few hundred metres.
PLACES: tuple[Place, ...] = (
    Place(
        "Lyon",
        "69001",
        45.7676,
        4.8344,
        (
            "rue Sainte-Catherine",
            "rue des Capucins",
            "rue d'Algérie",
            "rue Burdeau",
            "rue Royale",
            "quai Saint-Vincent",
        ),
        1.5,
    ),
    Place(
        "Lyon",
        "69002",
        45.7540,
        4.8270,
        (
            "rue Mercière",
            "rue Victor Hugo",
            "rue Auguste Comte",
            "rue de Brest",
            "rue de la Charité",
            "quai Gailleton",
        ),
        1.5,
    ),
    Place(
        "Lyon",
        "69003",
        45.7600,
        4.8530,
        (
            "cours Lafayette",
            "rue Paul Bert",
            "rue Garibaldi",
            "avenue Félix Faure",
            "rue Moncey",
            "rue de Créqui",
        ),
        2.0,
    ),
    Place(
        "Lyon",
        "69004",
        45.7785,
        4.8270,
        (
            "boulevard de la Croix-Rousse",
            "Grande Rue de la Croix-Rousse",
            "rue d'Austerlitz",
            "rue Dumenge",
            "rue Hénon",
        ),
        1.2,
    ),
    Place(
        "Lyon",
        "69005",
        45.7580,
        4.8020,
        (
            "rue Saint-Jean",
            "montée du Chemin Neuf",
            "rue de Trion",
            "avenue du Point du Jour",
            "rue des Farges",
        ),
        1.2,
    ),
    Place(
        "Lyon",
        "69006",
        45.7700,
        4.8520,
        (
            "boulevard des Belges",
            "cours Vitton",
            "rue Duguesclin",
            "avenue Foch",
            "rue Vendôme",
            "rue Tronchet",
        ),
        1.5,
    ),
    Place(
        "Lyon",
        "69007",
        45.7450,
        4.8420,
        (
            "avenue Jean Jaurès",
            "rue de Marseille",
            "Grande Rue de la Guillotière",
            "rue de Gerland",
            "rue Chevreul",
        ),
        1.8,
    ),
    Place(
        "Lyon",
        "69008",
        45.7370,
        4.8690,
        (
            "avenue des Frères Lumière",
            "route de Vienne",
            "rue Professeur Beauvisage",
            "boulevard des États-Unis",
            "rue Marius Berliet",
        ),
        1.5,
    ),
    Place(
        "Lyon",
        "69009",
        45.7745,
        4.8060,
        (
            "rue Marietton",
            "Grande Rue de Vaise",
            "rue de Bourgogne",
            "avenue Sidoine Apollinaire",
            "quai Arloing",
        ),
        1.2,
    ),
    Place(
        "Villeurbanne",
        "69100",
        45.7719,
        4.8902,
        (
            "cours Émile Zola",
            "avenue Henri Barbusse",
            "rue Francis de Pressensé",
            "rue Léon Blum",
            "cours Tolstoï",
        ),
        2.0,
    ),
    Place(
        "Vénissieux",
        "69200",
        45.6973,
        4.8856,
        (
            "avenue Marcel Houël",
            "boulevard Ambroise Croizat",
            "rue Gambetta",
            "avenue Jules Guesde",
        ),
    ),
    Place(
        "Caluire-et-Cuire",
        "69300",
        45.7955,
        4.8460,
        (
            "Grande Rue de Saint-Clair",
            "chemin de Wette",
            "avenue Barthélemy Thimonnier",
            "montée des Forts",
        ),
    ),
    Place(
        "Bron",
        "69500",
        45.7386,
        4.9130,
        (
            "avenue Franklin Roosevelt",
            "avenue Pierre Brossolette",
            "avenue Camille Rousset",
            "rue Paul Pic",
        ),
    ),
    Place(
        "Écully",
        "69130",
        45.7745,
        4.7770,
        ("avenue Guy de Collongue", "chemin de la Sauvegarde", "rue Jean Rigaud"),
        0.7,
    ),
    Place(
        "Oullins",
        "69600",
        45.7145,
        4.8075,
        ("Grande Rue", "rue Pierre Sémard", "boulevard de l'Yzeron", "avenue Jean Jaurès"),
        0.8,
    ),
    Place(
        "Saint-Priest",
        "69800",
        45.6960,
        4.9440,
        ("rue Henri Maréchal", "boulevard Édouard Herriot", "rue Aristide Briand", "route de Lyon"),
        0.8,
    ),
    Place(
        "Vaulx-en-Velin",
        "69120",
        45.7780,
        4.9210,
        ("avenue Gabriel Péri", "rue Émile Zola", "avenue Georges Rougé", "rue de la République"),
        0.8,
    ),
    Place(
        "Tassin-la-Demi-Lune",
        "69160",
        45.7630,
        4.7800,
        ("avenue Charles de Gaulle", "avenue de la République", "chemin de la Raude"),
        0.6,
    ),
    Place(
        "Sainte-Foy-lès-Lyon",
        "69110",
        45.7335,
        4.7960,
        ("avenue Maréchal Foch", "chemin de Montray", "rue Commandant Charcot"),
        0.6,
    ),
)

# Technicians' home bases: real neighbourhood centres around Lyon.
HOME_BASES: tuple[tuple[str, float, float], ...] = (
    ("Villeurbanne", 45.7694, 4.8828),
    ("Vénissieux", 45.6973, 4.8856),
    ("Caluire-et-Cuire", 45.7955, 4.8460),
    ("Bron", 45.7386, 4.9130),
    ("Écully", 45.7745, 4.7770),
    ("Oullins", 45.7145, 4.8075),
    ("Saint-Priest", 45.6960, 4.9440),
    ("Vaulx-en-Velin", 45.7780, 4.9210),
    ("Lyon 3e", 45.7600, 4.8530),
    ("Lyon 9e", 45.7745, 4.8060),
    ("Lyon 8e", 45.7370, 4.8690),
)

FIRST_NAMES_F = (
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Sarah",
    "Julie",
    "Émilie",
    "Claire",
    "Anne",
    "Sophie",
    "Nathalie",
    "Isabelle",
    "Céline",
    "Aurélie",
    "Laura",
    "Pauline",
    "Mathilde",
    "Élodie",
    "Margaux",
    "Juliette",
    "Hélène",
    "Valérie",
    "Sandrine",
    "Lucie",
    "Océane",
)
FIRST_NAMES_M = (
    "Julien",
    "Thomas",
    "Nicolas",
    "Maxime",
    "Antoine",
    "Hugo",
    "Lucas",
    "Théo",
    "Pierre",
    "Alexandre",
    "Romain",
    "Mathieu",
    "Sébastien",
    "François",
    "Olivier",
    "Laurent",
    "Benoît",
    "Jérôme",
    "Guillaume",
    "Damien",
    "Kévin",
    "Yannick",
    "Stéphane",
    "Éric",
    "Bruno",
    "Karim",
)
LAST_NAMES = (
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Roche",
    "Renard",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Bourgeois",
    "Benoît",
    "Rey",
    "Guillot",
    "Berger",
    "Moulin",
    "Perret",
    "Bouvier",
    "Chauvin",
    "Besson",
    "Ferrand",
    "Bonnard",
    "Chapuis",
    "Cholet",
    "Brunel",
)
ENGLISH_FIRST_NAMES = (
    "James",
    "Emily",
    "Oliver",
    "Charlotte",
    "Jack",
    "Sophie",
    "Harry",
    "Amelia",
    "George",
    "Grace",
    "Daniel",
    "Hannah",
    "Michael",
    "Emma",
    "David",
    "Laura",
)
ENGLISH_LAST_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Evans",
    "Clarke",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "Hughes",
    "Edwards",
)
COMPANY_PATTERNS = (
    "Boulangerie {ln}",
    "Pharmacie {ln}",
    "Cabinet dentaire {ln}",
    "Garage {ln}",
    "Boucherie {ln}",
    "Restaurant Chez {fn}",
    "Hôtel {ln}",
    "SCI {ln} Frères",
    "Fromagerie {ln}",
    "Cabinet d'avocats {ln} & Associés",
    "Salon de coiffure {fn}",
    "Crèche Les Petits {ln}",
)
EMAIL_DOMAINS_FR = ("example.fr", "example.fr", "example.com", "example.org")
EMAIL_DOMAINS_EN = ("example.com", "example.org", "example.net")

SKILLS = ("boiler", "heat_pump", "plumbing", "air_conditioning", "gas")
SKILL_PROFILES: tuple[tuple[str, ...], ...] = (
    ("boiler", "gas", "plumbing"),
    ("plumbing", "boiler"),
    ("heat_pump", "air_conditioning", "boiler"),
    ("plumbing", "gas"),
    ("boiler", "gas"),
    ("heat_pump", "air_conditioning"),
    ("plumbing", "gas", "boiler"),
    ("air_conditioning", "heat_pump", "plumbing"),
)
_FULL_DAY = [[480, 1020]]
_WEEK = ("0", "1", "2", "3", "4")
# Weekday (0 = Monday) -> local [start, end) minutes; one pattern per technician in turn.
WORKING_PATTERNS: tuple[dict[str, list[list[int]]], ...] = (
    {d: _FULL_DAY for d in _WEEK},
    {d: [[480, 720], [780, 1020]] for d in _WEEK},  # lunch break
    {**{d: _FULL_DAY for d in _WEEK}, "5": [[480, 720]]},  # Saturday mornings
    {d: [[450, 720], [810, 1050]] for d in _WEEK},  # early starter
    {d: _FULL_DAY for d in _WEEK},
    {"0": _FULL_DAY, "1": _FULL_DAY, "3": _FULL_DAY},  # part-time
    {d: [[540, 1080]] for d in _WEEK},  # 09:00-18:00
    {d: _FULL_DAY for d in _WEEK},
)
ABSENCE_REASONS = ("Congés", "Formation gaz", "RTT", "Congés")


# --- business unit configuration ---------------------------------------------

BUSINESS_UNIT: dict[str, Any] = {
    "name": "Rhône Chauffage Services",
    "logo": "logo.png",
    "phone": "+33 4 65 71 38 20",
    "email": "contact@rhone-chauffage.example",
    "address": "27 rue Marietton, 69009 Lyon",
    "description": (
        "Chauffagistes et plombiers à Lyon depuis 1998. Entretien et dépannage de "
        "chaudières, installation de pompes à chaleur et de climatisations, plomberie "
        "générale. Intervention dans toute la métropole de Lyon, du lundi au samedi."
    ),
    "primary_color": "#D84315",
    "timezone": TIMEZONE,
    "locale": "fr",
    "portal_enabled": True,
    "portal_default_for_new_clients": True,
    "permanent_links_allowed": True,
    "sms_links_allowed": True,
    "show_cancelled_activities": True,
    "sms_centicredits": 5000,  # 50 credits
}

# Forms by key; every field type of FormField appears at least once overall.
FORMS: dict[str, dict[str, Any]] = {
    "access": {
        "name": "Informations d'accès",
        "fields": [
            {
                "key": "intro",
                "type": "display_text",
                "label": "Aidez notre technicien à accéder facilement à votre logement.",
            },
            {
                "key": "presence",
                "type": "choice",
                "label": "Qui sera présent ?",
                "required": True,
                "choices": ["Moi-même", "Un voisin ou le gardien", "Clé en boîte à clé"],
            },
            {"key": "door_code", "type": "text", "label": "Code d'entrée de l'immeuble"},
            {"key": "floor", "type": "number", "label": "Étage", "min": -2, "max": 40},
            {
                "key": "parking",
                "type": "yes_no",
                "label": "Une place de stationnement est-elle disponible ?",
            },
            {"key": "pets", "type": "yes_no", "label": "Avez-vous des animaux ?"},
            {"key": "notes", "type": "textarea", "label": "Autres informations utiles"},
        ],
    },
    "problem": {
        "name": "Photo du problème",
        "fields": [
            {
                "key": "intro",
                "type": "display_text",
                "label": "Une photo permet au technicien d'apporter les bonnes pièces.",
            },
            {"key": "photo", "type": "photo", "label": "Photo du problème", "required": True},
            {
                "key": "description",
                "type": "textarea",
                "label": "Décrivez le problème",
                "required": True,
            },
            {"key": "since", "type": "date", "label": "Depuis quand ?"},
            {"key": "water_cut", "type": "yes_no", "label": "Avez-vous coupé l'arrivée d'eau ?"},
            {
                "key": "urgency",
                "type": "choice",
                "label": "Urgence",
                "choices": ["Peut attendre", "Gênant", "Urgent (fuite active)"],
            },
        ],
    },
    "quote": {
        "name": "Signature du devis",
        "fields": [
            {
                "key": "intro",
                "type": "display_text",
                "label": "Merci de relire le devis joint puis de le signer pour accord.",
            },
            {"key": "accept", "type": "yes_no", "label": "J'accepte le devis", "required": True},
            {"key": "signer", "type": "text", "label": "Nom du signataire", "required": True},
            {"key": "signed_on", "type": "date", "label": "Date", "required": True},
            {"key": "signature", "type": "signature", "label": "Signature", "required": True},
        ],
    },
    "survey": {
        "name": "Questionnaire de satisfaction",
        "fields": [
            {"key": "overall", "type": "rating", "label": "Note globale", "required": True},
            {"key": "punctuality", "type": "rating", "label": "Ponctualité du technicien"},
            {"key": "clean", "type": "yes_no", "label": "Le chantier a-t-il été laissé propre ?"},
            {
                "key": "recommend",
                "type": "number",
                "label": "Nous recommanderiez-vous ? (0 à 10)",
                "min": 0,
                "max": 10,
            },
            {"key": "comment", "type": "textarea", "label": "Commentaire"},
        ],
    },
    "heat_pump_prep": {
        "name": "Préparation de l'installation",
        "fields": [
            {
                "key": "housing",
                "type": "choice",
                "label": "Type de logement",
                "required": True,
                "choices": ["Maison", "Appartement", "Local professionnel"],
            },
            {
                "key": "surface",
                "type": "number",
                "label": "Surface chauffée (m²)",
                "min": 10,
                "max": 1000,
            },
            {
                "key": "current_heating",
                "type": "choice",
                "label": "Chauffage actuel",
                "choices": ["Chaudière gaz", "Chaudière fioul", "Radiateurs électriques", "Autre"],
            },
            {"key": "earliest_date", "type": "date", "label": "Date de début souhaitée"},
            {"key": "arrival_time", "type": "time", "label": "Heure d'arrivée au plus tôt"},
            {
                "key": "outdoor_photo",
                "type": "photo",
                "label": "Photo de l'emplacement de l'unité extérieure",
            },
        ],
    },
}

_BEFORE_24H = {"timing": "before_visit", "min_hours_before": 24}
# Clients may ask for these types from the portal ("New request").
_REQUEST = {"key": "request", "kind": "request", "label": "Demander une intervention"}

# Activity types; ``form`` in an action refers to FORMS by key.
# Title templates name what the visit is and where: no date (the card prints
# it on its own line, in the client's language) and no connector words, so a
# title reads the same in English and French.
ACTIVITY_TYPES: tuple[dict[str, Any], ...] = (
    {
        "name": "Entretien chaudière",
        "duration": 60,
        "skills": ["boiler"],
        "weight": 4.0,
        "portal_shown": True,
        "title_template": "{type.name} – {site.city}",
        "actions": [
            _REQUEST,
            {
                "key": "book",
                "kind": "book",
                "label": "Prendre rendez-vous",
                "conditions": {"statuses": ["to_schedule"]},
            },
            {
                "key": "reschedule",
                "kind": "reschedule",
                "label": "Changer de créneau",
                "conditions": {"statuses": ["scheduled"], **_BEFORE_24H},
            },
            {
                "key": "cancel",
                "kind": "cancel",
                "label": "Annuler le rendez-vous",
                "notify_planning": True,
                "conditions": {"statuses": ["scheduled", "to_schedule"], **_BEFORE_24H},
            },
            {
                "key": "access_info",
                "kind": "fill_form",
                "label": "Informations d'accès",
                "form": "access",
                "conditions": {"statuses": ["scheduled"], "timing": "before_visit"},
            },
        ],
    },
    {
        "name": "Dépannage",
        "duration": 90,
        "skills": ["plumbing"],
        "weight": 3.0,
        "portal_shown": True,
        "title_template": "{type.name} – {site.label}",
        "actions": [
            _REQUEST,
            # Before the visit = while not yet started; a repair waiting for a date
            # has no scheduled start, so timing stays "any".
            {
                "key": "problem_photo",
                "kind": "fill_form",
                "label": "Envoyer une photo du problème",
                "form": "problem",
                "notify_planning": True,
                "conditions": {"statuses": ["to_schedule", "scheduled"]},
            },
            {
                "key": "book",
                "kind": "book",
                "label": "Prendre rendez-vous",
                "conditions": {"statuses": ["to_schedule"]},
            },
            {
                "key": "sign_quote",
                "kind": "validate_document",
                "label": "Signer le devis",
                "form": "quote",
                "notify_planning": True,
                "conditions": {"statuses": ["in_progress", "scheduled"]},
            },
            {
                "key": "survey",
                "kind": "survey",
                "label": "Donner votre avis",
                "form": "survey",
                "conditions": {"statuses": ["done"], "timing": "after_visit"},
            },
        ],
    },
    {
        "name": "Installation pompe à chaleur",
        "duration": 240,
        "skills": ["heat_pump"],
        "weight": 1.0,
        "portal_shown": True,
        "title_template": "{type.name} ({site.postal_code} {site.city})",
        "actions": [
            _REQUEST,
            {
                "key": "prepare",
                "kind": "fill_form",
                "label": "Préparer l'installation",
                "form": "heat_pump_prep",
                "conditions": {"statuses": ["to_schedule", "scheduled"]},
            },
            {
                "key": "sign_quote",
                "kind": "validate_document",
                "label": "Signer le devis",
                "form": "quote",
                "notify_planning": True,
                "conditions": {"statuses": ["to_schedule", "scheduled"]},
            },
            {
                "key": "survey",
                "kind": "survey",
                "label": "Donner votre avis",
                "form": "survey",
                "conditions": {"statuses": ["done"], "timing": "after_visit"},
            },
        ],
    },
    {
        "name": "Entretien climatisation",
        "duration": 90,
        "skills": ["air_conditioning"],
        "weight": 1.5,
        "portal_shown": True,
        "title_template": "{type.name} – {site.label}",
        "actions": [
            {
                "key": "book",
                "kind": "book",
                "label": "Prendre rendez-vous",
                "conditions": {"statuses": ["to_schedule"]},
            },
            {
                "key": "reschedule",
                "kind": "reschedule",
                "label": "Changer de créneau",
                "conditions": {"statuses": ["scheduled"], **_BEFORE_24H},
            },
            {
                "key": "survey",
                "kind": "survey",
                "label": "Donner votre avis",
                "form": "survey",
                "conditions": {"statuses": ["done"], "timing": "after_visit"},
            },
        ],
    },
    {
        # Internal work the client never sees in the portal.
        "name": "Contrôle interne",
        "duration": 45,
        "skills": ["gas"],
        "weight": 0.8,
        "portal_shown": False,
        "title_template": "{type.name}",
        "actions": [],
    },
)

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "Entretien chaudière": tuple(
        f"Entretien annuel chaudière gaz {brand}"
        for brand in (
            "Saunier Duval",
            "Frisquet",
            "De Dietrich",
            "Viessmann",
            "ELM Leblanc",
            "Chaffoteaux",
        )
    ),
    "Dépannage": (
        "Fuite sous l'évier de la cuisine",
        "Chauffe-eau électrique en panne",
        "WC qui coule en continu",
        "Radiateur froid dans la chambre",
        "Pression de la chaudière qui chute",
        "Robinet de douche qui goutte",
        "Canalisation bouchée dans la salle de bain",
    ),
    "Installation pompe à chaleur": tuple(
        f"Installation d'une pompe à chaleur air/eau {brand} {kw} kW"
        for brand in ("Daikin", "Atlantic", "Mitsubishi Electric")
        for kw in (6, 8, 11)
    ),
    "Entretien climatisation": (
        "Entretien annuel climatisation réversible (1 unité intérieure)",
        "Entretien annuel climatisation réversible (3 unités intérieures)",
        "Nettoyage des filtres et contrôle de la charge en fluide",
    ),
    "Contrôle interne": (
        "Contrôle qualité après intervention",
        "Vérification d'étanchéité du réseau gaz",
    ),
}

REPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Entretien chaudière": (
        "Entretien annuel réalisé, chaudière en bon état de fonctionnement.",
        (
            "Nettoyage du corps de chauffe",
            "Contrôle de la combustion et mesure du CO",
            "Vérification des organes de sécurité",
            "Remise de l'attestation d'entretien",
        ),
    ),
    "Dépannage": (
        "Panne identifiée et réparée, installation remise en service.",
        (
            "Recherche de la panne",
            "Remplacement du joint défectueux",
            "Essais d'étanchéité",
            "Nettoyage de la zone d'intervention",
        ),
    ),
    "Installation pompe à chaleur": (
        "Pompe à chaleur installée et mise en service, explication du fonctionnement "
        "donnée au client.",
        (
            "Pose de l'unité extérieure",
            "Raccordement hydraulique et électrique",
            "Mise en service et réglage de la loi d'eau",
            "Formation du client au thermostat",
        ),
    ),
    "Entretien climatisation": (
        "Entretien de la climatisation effectué, performances conformes.",
        (
            "Nettoyage des filtres et de l'échangeur",
            "Contrôle de la charge en fluide",
            "Vérification des évacuations de condensats",
        ),
    ),
    "Contrôle interne": (
        "Contrôle conforme.",
        ("Vérification visuelle", "Test d'étanchéité"),
    ),
}

_IDLE_MINUTES = (0, 0, 0, 15, 30, 60, 90, 120, 180)
_WINDOW_STARTS = tuple(BookingSettings().window_starts)

CANCEL_NOTES = (
    "Annulé à la demande du client",
    "Client absent, rendez-vous à reprendre",
    "Annulé : pièce en rupture de stock",
    "Doublon avec une autre demande",
)


# --- small helpers ------------------------------------------------------------


def _ascii_slug(text: str, sep: str = ".") -> str:
    """ "Éloïse Lefèvre" -> "eloise.lefevre": email-safe local parts."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    parts = ["".join(ch for ch in word if ch.isalnum()) for word in folded.lower().split()]
    return sep.join(p for p in parts if p)


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _ceil_to(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def _local_to_utc(day: date, minute: int) -> datetime:
    """Local wall-clock time (minutes after midnight, Europe/Paris) as aware UTC."""
    local = datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def _office_time(instant: datetime, limit: datetime) -> datetime:
    """``instant`` squeezed into the office's 8:00–18:00 (local), never after ``limit``.

    The squeeze is monotonic (a day's 24 h map onto its 10 office hours), so
    steps drawn in order stay in order; the cap keeps them before the visit.
    """
    local = instant.astimezone(TZ)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    office_minute = 8 * 60 + (seconds * 10 // 24) // 60
    return min(_local_to_utc(local.date(), office_minute), limit)


def _next_id(db: Session, model: type[Base]) -> int:
    return (db.scalar(select(func.max(model.id))) or 0) + 1  # type: ignore[attr-defined]


def _bulk_insert(db: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    # Core executemany on the table: the ORM bulk path splits batches whenever
    # the pattern of NULL columns changes, which is far slower here. Every row
    # of a batch carries the same keys, ids included.
    table = model.__table__
    for i in range(0, len(rows), CHUNK):
        db.execute(insert(table), rows[i : i + CHUNK])


@dataclass
class _SiteRef:
    id: int
    client_index: int
    client_id: int
    latitude: float
    longitude: float


@dataclass
class _Visit:
    """One packed visit of a technician-day, before its status is decided."""

    tech_index: int
    day: date
    start_min: int
    duration: int
    type_index: int
    site: _SiteRef
    travel_min: int
    anchored: bool = False


class _Travel:
    """The business unit's travel model: road distance ~ circuity x great circle."""

    def __init__(self, booking: BookingSettings) -> None:
        self.factor = booking.circuity * 60.0 / booking.speed_kmh

    def minutes(self, lat1: float, lon1: float, lat2: float, lon2: float) -> int:
        # Rounded up to 5 minutes, never below 5: parking and walking in count too.
        return max(5, _ceil_to(_distance_km(lat1, lon1, lat2, lon2) * self.factor, 5))


# --- generation -----------------------------------------------------------------


def generate(db: Session, size: DemoSize | None = None, now: datetime | None = None) -> DemoSummary:
    """Fill an empty database with the demo dataset and return its summary.

    Deterministic: the same ``size`` (seed included) and ``now`` give identical rows.
    Activities are placed from 30 days before ``now`` to 21 days after it.
    Rows are inserted and flushed; committing is left to the caller.
    Raises :class:`DemoError` when a business unit already exists.
    """
    size = size or DemoSize()
    if size.technicians < 1 or size.clients < 1 or size.activities < 0:
        raise DemoError("the demo needs at least one technician and one client")
    if db.scalar(select(func.count()).select_from(BusinessUnit)):
        raise DemoError(
            "the database already holds a business unit; the demo only fills an empty database"
        )
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(size.seed)
    booking = BookingSettings()
    travel = _Travel(booking)

    bu_id = _next_id(db, BusinessUnit)
    bu_row = {"id": bu_id, **BUSINESS_UNIT, "booking": booking.model_dump()}
    _bulk_insert(db, BusinessUnit, [bu_row])

    form_ids = _insert_forms(db, bu_id)
    type_ids = _insert_activity_types(db, bu_id, form_ids)
    techs = _insert_technicians(db, bu_id, size.technicians, rng, now)
    sites, site_weights = _insert_clients(db, bu_id, size, rng)
    _insert_activities(db, bu_id, size, rng, now, techs, sites, site_weights, type_ids, travel)
    quote_types = {
        spec["name"]: type_id
        for spec, type_id in zip(ACTIVITY_TYPES, type_ids, strict=True)
        if spec["name"] in quote_type_names(ACTIVITY_TYPES)
    }
    insert_quotes(db, quote_types, BUSINESS_UNIT["name"], size.seed, TIMEZONE, CHUNK)
    _bulk_insert(db, NotificationTrigger, trigger_rows(bu_id, now))
    db.flush()
    summary = summarize(db)
    summary.created = True
    return summary


def _insert_forms(db: Session, bu_id: int) -> dict[str, int]:
    rows = []
    ids: dict[str, int] = {}
    next_id = _next_id(db, FormDefinition)
    for key, spec in FORMS.items():
        fields = FormSpec.model_validate({"fields": spec["fields"]}).model_dump()["fields"]
        rows.append(
            {"id": next_id, "business_unit_id": bu_id, "name": spec["name"], "fields": fields}
        )
        ids[key] = next_id
        next_id += 1
    _bulk_insert(db, FormDefinition, rows)
    return ids


def _insert_activity_types(db: Session, bu_id: int, form_ids: dict[str, int]) -> list[int]:
    rows = []
    next_id = _next_id(db, ActivityType)
    for spec in ACTIVITY_TYPES:
        actions = []
        for action in spec["actions"]:
            data = {k: v for k, v in action.items() if k != "form"}
            if "form" in action:
                data["form_id"] = form_ids[action["form"]]
            actions.append(data)
        # Validated exactly as the staff API would before storing it.
        portal = ActivityTypePortal.model_validate(
            {
                "portal_shown": spec["portal_shown"],
                "title_template": spec["title_template"],
                "portal_actions": actions,
            }
        ).model_dump()
        rows.append(
            {
                "id": next_id,
                "business_unit_id": bu_id,
                "name": spec["name"],
                "default_duration_min": spec["duration"],
                "required_skills": list(spec["skills"]),
                **portal,
            }
        )
        next_id += 1
    _bulk_insert(db, ActivityType, rows)
    return [row["id"] for row in rows]


@dataclass
class _Tech:
    id: int
    skills: set[str]
    latitude: float
    longitude: float
    working_hours: dict[str, list[list[int]]]
    # Local day -> absent [start, end) minutes.
    absences: dict[date, list[tuple[int, int]]]


def _insert_technicians(
    db: Session, bu_id: int, count: int, rng: random.Random, now: datetime
) -> list[_Tech]:
    today = now.astimezone(TZ).date()
    tech_id = _next_id(db, Technician)
    absence_id = _next_id(db, Absence)
    techs: list[_Tech] = []
    rows: list[dict[str, Any]] = []
    absence_rows: list[dict[str, Any]] = []
    for i in range(count):
        skills = list(SKILL_PROFILES[i % len(SKILL_PROFILES)])
        if i >= len(SKILL_PROFILES) and rng.random() < 0.3:
            extra = rng.choice(SKILLS)
            if extra not in skills:
                skills.append(extra)
        base = HOME_BASES[i % len(HOME_BASES)]
        # The first round of technicians lives exactly at the named places.
        jitter = 0.0 if i < len(HOME_BASES) else 0.01
        lat = round(base[1] + rng.uniform(-jitter, jitter), 5)
        lon = round(base[2] + rng.uniform(-jitter, jitter), 5)
        female = rng.random() < 0.2
        first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        hours = WORKING_PATTERNS[i % len(WORKING_PATTERNS)]
        techs.append(_Tech(tech_id + i, set(skills), lat, lon, hours, {}))
        rows.append(
            {
                "id": tech_id + i,
                "business_unit_id": bu_id,
                "first_name": first,
                "last_name": rng.choice(LAST_NAMES),
                "skills": skills,
                "home_latitude": lat,
                "home_longitude": lon,
                "working_hours": hours,
            }
        )
    # Small teams must still cover every skill the activity types need.
    for j, skill in enumerate(SKILLS):
        if not any(skill in t.skills for t in techs):
            tech = techs[j % count]
            tech.skills.add(skill)
            rows[j % count]["skills"] = rows[j % count]["skills"] + [skill]

    # About a third of the team has days off in the coming three weeks, and one
    # technician in ten a medical appointment (an afternoon) this week.
    for i, tech in enumerate(techs):
        spans: list[tuple[date, int, int, str]] = []
        if i % 3 == 1:
            first_day = today + timedelta(days=rng.randint(2, FUTURE_DAYS - 4))
            for d in range(rng.randint(1, 3)):
                spans.append((first_day + timedelta(days=d), 0, 1440, ""))
            reason = rng.choice(ABSENCE_REASONS)
            spans = [(d, s, e, reason) for d, s, e, _ in spans]
        medical_day = today + timedelta(days=rng.randint(1, 5))
        if i % 10 == 4 and all(d != medical_day for d, *_ in spans):
            spans.append((medical_day, 780, 1440, "Rendez-vous médical"))
        # Consecutive full days are one absence row, as staff would enter them.
        merged: list[list[Any]] = []
        for day, start, end, reason in sorted(spans):
            tech.absences.setdefault(day, []).append((start, end))
            prev = merged[-1] if merged else None
            if (
                prev
                and prev[2] == 1440
                and start == 0
                and prev[1] + timedelta(days=1) == day
                and prev[3] == reason
            ):
                prev[1], prev[2] = day, end
            else:
                merged.append([day, day, end, reason, start])
        for first_day, last_day, end, reason, start in merged:
            absence_rows.append(
                {
                    "id": absence_id,
                    "technician_id": tech.id,
                    "start": _local_to_utc(first_day, start),
                    "end": _local_to_utc(last_day, end),
                    "reason": reason,
                }
            )
            absence_id += 1
    _bulk_insert(db, Technician, rows)
    _bulk_insert(db, Absence, absence_rows)
    return techs


def _insert_clients(
    db: Session, bu_id: int, size: DemoSize, rng: random.Random
) -> tuple[list[_SiteRef], list[float]]:
    """Clients, their contacts and sites; returns the sites and their booking weights."""
    client_id = _next_id(db, Client)
    contact_id = _next_id(db, ClientContact)
    site_id = _next_id(db, Site)
    # Contacts are unique per kind across the database, existing rows included.
    used_emails = set(db.scalars(select(ClientContact.value).where(ClientContact.kind == "email")))
    used_phones = set(db.scalars(select(ClientContact.value).where(ClientContact.kind == "phone")))
    email_counts: dict[str, int] = {}
    place_cum = list(accumulate(p.weight for p in PLACES))

    disabled_count = max(1, round(size.clients * DISABLED_CLIENT_SHARE)) if size.clients > 1 else 0
    # Client 0 is the showcase client of the summary: never disabled.
    disabled = set(rng.sample(range(1, size.clients), disabled_count)) if disabled_count else set()

    def unique_email(local: str, domain: str) -> str:
        n = email_counts.get(local, 0)
        while True:
            n += 1
            candidate = normalize_email(f"{local}{'' if n == 1 else n}@{domain}")
            if candidate not in used_emails:
                email_counts[local] = n
                used_emails.add(candidate)
                return candidate

    def unique_phone() -> str:
        while True:
            raw = (
                f"0{rng.choice('67')} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d} "
                f"{rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
            )
            candidate = normalize_phone(raw)
            if candidate not in used_phones:
                used_phones.add(candidate)
                return candidate

    clients: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    site_rows: list[dict[str, Any]] = []
    sites: list[_SiteRef] = []
    for i in range(size.clients):
        english = i > 0 and rng.random() < ENGLISH_CLIENT_SHARE
        company = i > 0 and not english and rng.random() < COMPANY_SHARE
        if english:
            first, last = rng.choice(ENGLISH_FIRST_NAMES), rng.choice(ENGLISH_LAST_NAMES)
        else:
            first = rng.choice(FIRST_NAMES_F if rng.random() < 0.5 else FIRST_NAMES_M)
            last = rng.choice(LAST_NAMES)
        if company:
            name = rng.choice(COMPANY_PATTERNS).format(fn=first, ln=last)
            local = "contact." + _ascii_slug(name, sep="-")
        else:
            name = f"{first} {last}"
            local = _ascii_slug(f"{first} {last}")
        domains = EMAIL_DOMAINS_EN if english else EMAIL_DOMAINS_FR
        cid = client_id + i
        clients.append(
            {
                "id": cid,
                "business_unit_id": bu_id,
                "name": name,
                "portal_access": i not in disabled,
                "preferred_language": "en" if english else "fr",
            }
        )
        # 1-2 contacts: both for most, otherwise an email or a phone alone.
        roll = rng.random()
        kinds = (
            ["email", "phone"]
            if i == 0 or roll < 0.6
            else (["email"] if roll < 0.85 else ["phone"])
        )
        for kind in kinds:
            value = unique_email(local, rng.choice(domains)) if kind == "email" else unique_phone()
            label = (
                ("Bureau" if company else "Personnel")
                if kind == "email"
                else ("Standard" if company else "Mobile")
            )
            contacts.append(
                {"id": contact_id, "client_id": cid, "kind": kind, "value": value, "label": label}
            )
            contact_id += 1
        n_sites = 2 if i == 0 or rng.random() < TWO_SITES_SHARE else 1
        labels = (
            ("Magasin", "Entrepôt")
            if company
            else ("Home", "Holiday flat")
            if english
            else ("Domicile", "Appartement locatif")
        )
        for s in range(n_sites):
            place = PLACES[bisect_right(place_cum, rng.random() * place_cum[-1])]
            lat = round(place.latitude + rng.uniform(-0.006, 0.006), 6)
            lon = round(place.longitude + rng.uniform(-0.008, 0.008), 6)
            site_rows.append(
                {
                    "id": site_id,
                    "client_id": cid,
                    "label": labels[s],
                    "street": f"{rng.randint(1, 120)} {rng.choice(place.streets)}",
                    "postal_code": place.postal_code,
                    "city": place.city,
                    "latitude": lat,
                    "longitude": lon,
                }
            )
            sites.append(_SiteRef(site_id, i, cid, lat, lon))
            site_id += 1
    _bulk_insert(db, Client, clients)
    _bulk_insert(db, ClientContact, contacts)
    _bulk_insert(db, Site, site_rows)

    # The showcase client gets about twenty activities whatever the size.
    showcase = max(1.0, 20.0 * len(sites) / max(1, size.activities))
    weights = [showcase if s.client_index == 0 else 1.0 for s in sites]
    return sites, weights


def _free_intervals(tech: _Tech, day: date) -> list[tuple[int, int]]:
    """Working intervals of ``day`` minus absences, in local minutes."""
    intervals = [(s, e) for s, e in tech.working_hours.get(str(day.weekday()), [])]
    for a_start, a_end in tech.absences.get(day, []):
        cut: list[tuple[int, int]] = []
        for s, e in intervals:
            if a_end <= s or a_start >= e:
                cut.append((s, e))
                continue
            if s < a_start:
                cut.append((s, a_start))
            if a_end < e:
                cut.append((a_end, e))
        intervals = cut
    return intervals


class _Packer:
    """Places visits in technician-days: chronological, with travel between sites."""

    def __init__(
        self,
        rng: random.Random,
        travel: _Travel,
        sites: list[_SiteRef],
        site_weights: list[float],
    ) -> None:
        self.rng = rng
        self.travel = travel
        self.sites = sites
        self.site_cum = list(accumulate(site_weights))
        self.durations = [t["duration"] for t in ACTIVITY_TYPES]
        self.weights = [t["weight"] for t in ACTIVITY_TYPES]

    def pick_site(self) -> _SiteRef:
        return self.sites[bisect_right(self.site_cum, self.rng.random() * self.site_cum[-1])]

    def eligible_types(self, tech: _Tech) -> list[int]:
        return [i for i, t in enumerate(ACTIVITY_TYPES) if set(t["skills"]) <= tech.skills]

    def pick_type(self, eligible: list[int]) -> int:
        return self.rng.choices(eligible, weights=[self.weights[i] for i in eligible])[0]

    def anchor(
        self, tech_index: int, tech: _Tech, day: date, free: list[tuple[int, int]], now_min: int
    ) -> _Visit | None:
        """A visit under way at ``now_min`` (started shortly before), if one fits."""
        eligible = self.eligible_types(tech)
        for start, end in free:
            if not start <= now_min < end:
                continue
            site = self.pick_site()
            to_site = self.travel.minutes(
                tech.latitude, tech.longitude, site.latitude, site.longitude
            )
            begin = max(_ceil_to(start + to_site, 15), (now_min // 15) * 15 - 15)
            if begin > now_min:
                return None
            back = self.travel.minutes(site.latitude, site.longitude, tech.latitude, tech.longitude)
            fitting = [
                i
                for i in eligible
                if now_min < begin + self.durations[i] and begin + self.durations[i] + back <= end
            ]
            if not fitting:
                return None
            type_index = self.pick_type(fitting)
            return _Visit(
                tech_index,
                day,
                begin,
                self.durations[type_index],
                type_index,
                site,
                to_site,
                anchored=True,
            )
        return None

    def pack(
        self,
        tech_index: int,
        tech: _Tech,
        day: date,
        free: list[tuple[int, int]],
        wanted: int,
        fixed: _Visit | None = None,
    ) -> list[_Visit]:
        """Up to ``wanted`` visits (``fixed`` included), in time order, none overlapping.

        A visit starts once the technician has travelled from the previous
        location (home first) and leaves time to drive home before the end of
        its working interval, so every packed day is feasible.
        """
        eligible = self.eligible_types(tech)
        if not eligible or wanted <= 0:
            return []
        shortest = min(eligible, key=lambda i: self.durations[i])
        visits: list[_Visit] = []
        lat, lon = tech.latitude, tech.longitude
        free_at = 0
        pending = fixed
        count = 1 if fixed else 0
        for start, end in free:
            while count < wanted:
                site = self.pick_site()
                type_index = self.pick_type(eligible)
                to_site = self.travel.minutes(lat, lon, site.latitude, site.longitude)
                back = self.travel.minutes(
                    site.latitude, site.longitude, tech.latitude, tech.longitude
                )
                # Some slack (office work, a slow job) spreads visits over the day
                # instead of always starting at opening time; dropped when tight.
                idle = self.rng.choice(_IDLE_MINUTES)
                begin = _ceil_to(max(free_at, start) + to_site + idle, 15)
                if begin + self.durations[type_index] + back > end:
                    begin = _ceil_to(max(free_at, start) + to_site, 15)
                if begin + self.durations[type_index] + back > end:
                    type_index = shortest
                finish = begin + self.durations[type_index]
                if pending and start <= pending.start_min < end:
                    to_fixed = self.travel.minutes(
                        site.latitude, site.longitude, pending.site.latitude, pending.site.longitude
                    )
                    if finish + to_fixed > pending.start_min:
                        # No room before the visit under way: continue after it.
                        pending.travel_min = max(
                            pending.travel_min,
                            self.travel.minutes(
                                lat, lon, pending.site.latitude, pending.site.longitude
                            ),
                        )
                        visits.append(pending)
                        lat, lon = pending.site.latitude, pending.site.longitude
                        free_at = pending.start_min + pending.duration
                        pending = None
                        continue
                elif finish + back > end:
                    break
                visits.append(
                    _Visit(
                        tech_index,
                        day,
                        begin,
                        self.durations[type_index],
                        type_index,
                        site,
                        to_site,
                    )
                )
                count += 1
                lat, lon, free_at = site.latitude, site.longitude, finish
            if pending and start <= pending.start_min < end:
                pending.travel_min = max(
                    pending.travel_min,
                    self.travel.minutes(lat, lon, pending.site.latitude, pending.site.longitude),
                )
                visits.append(pending)
                lat, lon = pending.site.latitude, pending.site.longitude
                free_at = pending.start_min + pending.duration
                pending = None
            # The next interval (after lunch) starts from wherever the technician is.
        visits.sort(key=lambda v: v.start_min)
        return visits


def _insert_activities(
    db: Session,
    bu_id: int,
    size: DemoSize,
    rng: random.Random,
    now: datetime,
    techs: list[_Tech],
    sites: list[_SiteRef],
    site_weights: list[float],
    type_ids: list[int],
    travel: _Travel,
) -> None:
    packer = _Packer(rng, travel, sites, site_weights)
    local_now = now.astimezone(TZ)
    today = local_now.date()
    now_min = local_now.hour * 60 + local_now.minute

    # Technician-days with their free time, weighted so that the past is full
    # and the far future still has room for bookings.
    tech_days: list[tuple[int, date, list[tuple[int, int]], float]] = []
    for offset in range(-PAST_DAYS, FUTURE_DAYS + 1):
        day = today + timedelta(days=offset)
        weight = 1.0 if offset <= 0 else 1.0 - 0.6 * offset / FUTURE_DAYS
        if day.weekday() == 5:
            weight *= 0.6
        for t_index, tech in enumerate(techs):
            free = _free_intervals(tech, day)
            if free:
                tech_days.append((t_index, day, free, weight))

    n_to_schedule = round(size.activities * TO_SCHEDULE_SHARE)
    n_dated = size.activities - n_to_schedule
    total_weight = sum(w for *_, w in tech_days) or 1.0

    # Technicians mid-visit right now give today's in_progress activities.
    working_now = [
        k
        for k, (t_index, day, free, _) in enumerate(tech_days)
        if day == today and any(s <= now_min < e for s, e in free)
    ]
    anchored_days = (
        set(rng.sample(working_now, math.ceil(len(working_now) * IN_PROGRESS_TECH_SHARE)))
        if working_now and n_dated
        else set()
    )

    visits: list[_Visit] = []
    cumulative = 0.0
    carry = 0
    for k, (t_index, day, free, weight) in enumerate(tech_days):
        # Systematic rounding: the wanted counts add up exactly to n_dated;
        # what a full day cannot take (or took beyond) is carried to the next one.
        previous = round(cumulative)
        cumulative += n_dated * weight / total_weight
        target = round(cumulative) - previous + carry
        fixed = None
        if k in anchored_days:
            fixed = packer.anchor(t_index, techs[t_index], day, free, now_min)
        wanted = max(target, 1) if fixed else target
        placed = packer.pack(t_index, techs[t_index], day, free, wanted, fixed)
        carry = target - len(placed)
        visits.extend(placed)
    # Whatever no day could take waits for a date, like a fresh request. The
    # carry is negative when visits under way went beyond the wanted counts.
    n_to_schedule += carry
    while n_to_schedule < 0:
        last = max(k for k, v in enumerate(visits) if not v.anchored)
        del visits[last]
        n_to_schedule += 1

    activity_id = _next_id(db, Activity)
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    eligible_types = list(range(len(ACTIVITY_TYPES)))
    type_weights = [t["weight"] for t in ACTIVITY_TYPES]

    for visit in visits:
        rows.append(_dated_activity(rng, visit, techs, now, now_min, today))
    for n in range(n_to_schedule):
        # The showcase client always has a boiler service to book.
        if n == 0:
            site = next(s for s in sites if s.client_index == 0)
            type_index = 0
        else:
            site = packer.pick_site()
            type_index = rng.choices(eligible_types, weights=type_weights)[0]
        created = _office_time(now - timedelta(minutes=rng.randint(60, 25 * 24 * 60)), now)
        rows.append(_activity_row(rng, type_index, site, "to_schedule", created, None, None))
        rows[-1]["_steps"] = [
            (
                created,
                "created",
                rng.choice(("Demande reçue par téléphone", "Demande faite sur le portail", "")),
            )
        ]

    # Ids follow creation order, as in a live system.
    rows.sort(key=lambda r: r["created_at"])
    for row in rows:
        row["id"] = activity_id
        row["business_unit_id"] = bu_id
        row["type_id"] = type_ids[row.pop("_type_index")]
        for at, code, note in row.pop("_steps"):
            steps.append({"activity_id": activity_id, "at": at, "code": code, "note": note})
        row["updated_at"] = steps[-1]["at"]
        activity_id += 1
    _bulk_insert(db, Activity, rows)
    step_id = _next_id(db, ActivityStep)
    for n, step in enumerate(steps):
        step["id"] = step_id + n
    _bulk_insert(db, ActivityStep, steps)


def _activity_row(
    rng: random.Random,
    type_index: int,
    site: _SiteRef,
    status: str,
    created: datetime,
    technician_id: int | None,
    times: tuple[datetime, datetime, datetime, datetime] | None,
) -> dict[str, Any]:
    name = ACTIVITY_TYPES[type_index]["name"]
    start, end, w_start, w_end = times if times else (None, None, None, None)
    closure: dict[str, Any] = {}
    if status == "done":
        summary, work = REPORTS[name]
        closure = {"summary": summary, "work_done": list(work), "report_pdf": None}
    return {
        "_type_index": type_index,
        "client_id": site.client_id,
        "site_id": site.id,
        "status": status,
        "scheduled_start": start,
        "scheduled_end": end,
        "window_start": w_start,
        "window_end": w_end,
        "technician_id": technician_id,
        "description": rng.choice(DESCRIPTIONS[name]),
        "closure_report": closure,
        "reschedule_count": 0,
        "created_at": created,
    }


def _window_start(start_min: int) -> int:
    """A 2-hour arrival window containing the start: the booking windows when one fits."""
    for ws in reversed(_WINDOW_STARTS):
        if ws <= start_min < ws + 120:
            return ws
    return max(0, (start_min // 30) * 30 - 30)


def _dated_activity(
    rng: random.Random,
    visit: _Visit,
    techs: list[_Tech],
    now: datetime,
    now_min: int,
    today: date,
) -> dict[str, Any]:
    start = _local_to_utc(visit.day, visit.start_min)
    end = start + timedelta(minutes=visit.duration)
    ws_min = _window_start(visit.start_min)
    times = (start, end, _local_to_utc(visit.day, ws_min), _local_to_utc(visit.day, ws_min + 120))

    if visit.anchored or start <= now < end:
        status = "in_progress"
    elif end <= now:
        status = "cancelled" if rng.random() < PAST_CANCELLED_SHARE else "done"
    else:
        status = "cancelled" if rng.random() < FUTURE_CANCELLED_SHARE else "scheduled"

    created = min(
        start - timedelta(minutes=rng.randint(2 * 1440, 25 * 1440)),
        now - timedelta(minutes=rng.randint(60, 20 * 1440)),
        start - timedelta(minutes=visit.travel_min + 60),
    )
    # Office steps happen in office hours, before the technician leaves (and
    # never after now).
    office_limit = min(now, start - timedelta(minutes=visit.travel_min + 30))
    span = max(0.0, (office_limit - created).total_seconds())
    rescheduled = status in ("scheduled", "done") and rng.random() < RESCHEDULED_SHARE
    n_office = 3 if rescheduled else 2
    if status == "cancelled":
        n_office += 1
    marks = sorted(
        _office_time(created + timedelta(seconds=int(rng.random() * span)), office_limit)
        for _ in range(n_office)
    )
    created = _office_time(created, office_limit)  # same squeeze: still first
    steps: list[tuple[datetime, str, str]] = [
        (
            created,
            "created",
            rng.choice(("Demande reçue par téléphone", "Demande faite sur le portail", "")),
        ),
        (marks[0], "scheduled", ""),
        (marks[1], "technician_assigned", ""),
    ]
    if rescheduled:
        steps.append((marks[2], "rescheduled", "Report à la demande du client"))
    if status == "cancelled":
        steps.append((marks[-1], "cancelled", rng.choice(CANCEL_NOTES)))
    on_the_way = start - timedelta(minutes=visit.travel_min)
    if status in ("in_progress", "done") or (status == "scheduled" and on_the_way <= now):
        steps.append((on_the_way, "on_the_way", ""))
    if status in ("in_progress", "done"):
        steps.append((start, "started", ""))
    if status == "done":
        completed = min(now, end + timedelta(minutes=rng.randint(-5, 10)))
        steps.append(
            (
                max(completed, start + timedelta(minutes=1)),
                "completed",
                "Rapport d'intervention disponible",
            )
        )

    row = _activity_row(
        rng, visit.type_index, visit.site, status, created, techs[visit.tech_index].id, times
    )
    row["reschedule_count"] = 1 if rescheduled else 0
    row["_steps"] = steps
    return row


# --- summary, seeding, CLI ---------------------------------------------------------


def summarize(db: Session) -> DemoSummary:
    """Counts of what the database holds, and a client with portal access to sign in with.

    The example client is the portal-enabled client with both an email and a
    phone whose visible activities cover the most statuses (then the most
    activities, then the lowest id). Raises :class:`DemoError` on an empty database.
    """
    bu = db.scalars(select(BusinessUnit).order_by(BusinessUnit.id).limit(1)).first()
    if bu is None:
        raise DemoError("the database holds no business unit")

    def count(model: type[Base]) -> int:
        return db.scalar(select(func.count()).select_from(model)) or 0

    by_status = dict(
        db.execute(select(Activity.status, func.count()).group_by(Activity.status)).all()
    )
    has_email = select(ClientContact.client_id).where(ClientContact.kind == "email")
    has_phone = select(ClientContact.client_id).where(ClientContact.kind == "phone")
    example_id = db.scalar(
        select(Client.id)
        .outerjoin(Activity, Activity.client_id == Client.id)
        .outerjoin(ActivityType, ActivityType.id == Activity.type_id)
        .where(Client.portal_access.is_(True), Client.id.in_(has_email), Client.id.in_(has_phone))
        .group_by(Client.id)
        .order_by(
            func.count(distinct(Activity.status))
            .filter(ActivityType.portal_shown.is_(True))
            .desc(),
            func.count(Activity.id).desc(),
            Client.id,
        )
        .limit(1)
    )
    email = phone = None
    if example_id is not None:
        contacts = db.execute(
            select(ClientContact.kind, ClientContact.value)
            .where(ClientContact.client_id == example_id)
            .order_by(ClientContact.id)
        ).all()
        email = next((v for k, v in contacts if k == "email"), None)
        phone = next((v for k, v in contacts if k == "phone"), None)
    disabled_id = db.scalar(
        select(Client.id).where(Client.portal_access.is_(False)).order_by(Client.id).limit(1)
    )
    return DemoSummary(
        business_unit_id=bu.id,
        business_unit_name=bu.name,
        technicians=count(Technician),
        clients=count(Client),
        contacts=count(ClientContact),
        sites=count(Site),
        absences=count(Absence),
        forms=count(FormDefinition),
        activity_types=count(ActivityType),
        activities=count(Activity),
        steps=count(ActivityStep),
        activities_by_status={
            s: int(by_status.get(s, 0))
            for s in ("to_schedule", "scheduled", "in_progress", "done", "cancelled")
        },
        example_client_id=example_id,
        example_client_email=email,
        example_client_phone=phone,
        disabled_client_id=disabled_id,
    )


def seed_database(
    url: str, size: DemoSize | None = None, now: datetime | None = None
) -> DemoSummary:
    """Upgrade the schema at ``url`` and load the demo dataset when the database is empty.

    Idempotent: when a business unit already exists nothing is written and the
    summary describes what is there (``created`` is False).
    """
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            if db.scalar(select(func.count()).select_from(BusinessUnit)):
                return summarize(db)
            summary = generate(db, size, now)
            if summary.example_client_id is not None:
                # The reports and quote files of the client people sign in as.
                seed_documents(db, summary.example_client_id, now or utcnow())
            # Bulk inserts bypass the write paths, so build every client's
            # sync feed here, in the same transaction as the data.
            for client_id in db.scalars(select(Client.id).order_by(Client.id)).all():
                refresh_client(db, client_id)
            advance_sequences(db)
            db.commit()
            return summary
    finally:
        engine.dispose()


def advance_sequences(db: Session) -> None:
    """Move PostgreSQL's id sequences past the ids the bulk inserts chose.

    The demo writes explicit ids; without this the first row the application
    adds (a booking's step, a sign-in code) collides with one of them. SQLite
    takes the next id from the table itself and needs nothing.
    """
    if db.get_bind().dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        id_column = table.columns.get("id")
        if id_column is None or not isinstance(id_column.type, Integer):
            continue
        db.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            ),
            {"table": table.name},
        )


def _database_url(value: str | None) -> str:
    if not value:
        return Settings().resolved_database_url()
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def prepare_target(url: str) -> None:
    """Create the folder of a SQLite file (``var/`` on a fresh clone)."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def drop_everything(url: str) -> None:
    """Drop every table at ``url`` (the Alembic version too), for ``--force``.

    Tables are read from the database itself, not from the models, so tables
    of an older schema go as well.
    """
    engine = make_engine(url)
    try:
        existing = MetaData()
        existing.reflect(bind=engine)
        existing.drop_all(bind=engine)
    finally:
        engine.dispose()


DEMO_LINK_LABEL = "demo"


def issue_demo_link(db: Session, settings: Settings, client_id: int, now: datetime) -> str:
    """A permanent login link for the demo client, revoking the previous demo links.

    Links are stored hashed, so an old one cannot be shown again: each start
    of the embedded demo issues a new link, and the older ones die, so the
    client keeps exactly one live demo link. The caller commits.
    """
    db.execute(
        update(LoginLink)
        .where(
            LoginLink.client_id == client_id,
            LoginLink.kind == "permanent",
            LoginLink.label == DEMO_LINK_LABEL,
            LoginLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return issue_permanent_link(db, settings, client_id, now, DEMO_LINK_LABEL)


def build_parser() -> argparse.ArgumentParser:
    """The ``portal demo`` argument parser (every option says its default)."""
    defaults = DemoSize()
    parser = argparse.ArgumentParser(
        prog="portal demo",
        description="Load the deterministic demo dataset into a database. A database "
        "that already holds data is left as it is unless --force is given.",
    )
    parser.add_argument(
        "--db",
        help="database URL or SQLite file path; missing folders are created "
        "(default: PORTAL_DATABASE_URL, else $PORTAL_DATA_DIR/portal.db, else var/portal.db)",
    )
    parser.add_argument(
        "--technicians",
        type=int,
        default=defaults.technicians,
        help="technicians to create (default: %(default)s)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=defaults.clients,
        help="clients to create (default: %(default)s)",
    )
    parser.add_argument(
        "--activities",
        type=int,
        default=defaults.activities,
        help="activities to create (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help="random seed: the same seed gives the same data (default: %(default)s)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="delete everything in the database first and generate anew "
        "(default: keep an existing database untouched)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``portal demo``: seed a database with the demo dataset and print its summary."""
    args = build_parser().parse_args(argv)
    size = DemoSize(args.technicians, args.clients, args.activities, args.seed)
    url = _database_url(args.db)
    started = time_module.perf_counter()
    try:
        prepare_target(url)
        if args.force:
            drop_everything(url)
        summary = seed_database(url, size)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as exc:
        # A path we cannot write, a server that does not answer: one line, no traceback.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"error: cannot use the database {make_url(url).render_as_string()}: {reason}",
            file=sys.stderr,
        )
        return 1
    elapsed = time_module.perf_counter() - started
    if summary.created:
        print(f"Created: {summary.business_unit_name} (business unit {summary.business_unit_id})")
    else:
        print(
            f"The database already holds data: nothing was changed "
            f"(use --force to delete it and generate the demo anew).\n"
            f"Already present: {summary.business_unit_name} "
            f"(business unit {summary.business_unit_id})"
        )
    print(
        f"  technicians {summary.technicians}, clients {summary.clients}, "
        f"sites {summary.sites}, contacts {summary.contacts}"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in summary.activities_by_status.items())
    print(f"  activities {summary.activities} ({statuses}), steps {summary.steps}")
    print(
        f"  example client {summary.example_client_id}: {summary.example_client_email} / "
        f"{summary.example_client_phone}"
    )
    print(f"  client without portal access: {summary.disabled_client_id}")
    print(f"  done in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
