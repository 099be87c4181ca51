"""The app's own strings in English and French, and locale-aware date/time text.

Flutter's ``LocaleConfiguration`` only translates its built-in widgets
(DESIGN.md §6), so every sentence the app shows goes through ``t(key, **params)``.

Each Flet session owns a ``Translator`` (two browser tabs may use different
languages); the module-level ``t`` uses a process-wide default translator for
code that has no session at hand (the CLI).

Dates and times are shown in the business unit's time zone (the client's
appointments happen there, whatever the device's zone), formatted with
``backend.localization`` so the app and server-rendered titles agree.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.localization import format_date, format_time

LANGUAGES: tuple[str, ...] = ("en", "fr")
DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEZONE = "Europe/Paris"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app.title": "Client portal",
        # sign-in
        "signin.title": "Sign in",
        "signin.intro": "Enter the email address or phone number the company has on file "
        "for you. We will send you a one-time code.",
        "signin.identifier": "Email or phone number",
        "signin.send_code": "Send me a code",
        "signin.code_sent": "We sent you a code",
        "signin.code_sent_to": "If {identifier} is on file, a 6-digit code is on its way. "
        "It is valid for 10 minutes.",
        "signin.code": "6-digit code",
        "signin.verify": "Sign in",
        "signin.resend": "Send a new code",
        "signin.resend_in": "You can ask for a new code in {seconds} s",
        "signin.change_identifier": "Use another email or phone",
        "signin.have_link": "I have a login link",
        "signin.link_title": "Sign in with a login link",
        "signin.link_intro": "Paste the login link the company gave you (the whole address, "
        "or only the part after #).",
        "signin.link": "Login link",
        "signin.use_link": "Sign in with this link",
        "signin.back": "Back",
        "signin.confirm_link_title": "Sign in to {business_unit}?",
        "signin.confirm_link_intro": "You opened a sign-in link. Tap the button to continue.",
        "signin.confirm_link": "Sign in",
        "signin.error.empty_identifier": "Please enter your email address or phone number.",
        "signin.error.bad_code_format": "The code is the 6 digits we sent you.",
        "signin.error.wrong_code": "That code is not right. Tries left: {tries}.",
        "signin.error.code_expired": "This code has expired. Please ask for a new one.",
        "signin.error.code_dead": "This code can no longer be used. Please ask for a new one.",
        "signin.error.rate_limited": "Too many attempts. Please try again in {minutes} min.",
        "signin.error.empty_link": "Please paste your login link.",
        "signin.memory_only": "This device cannot store your session securely: "
        "you will have to sign in again next time.",
        # errors from the API client (app.sync.api)
        "error.offline": "No connection to the server. Check your network and try again.",
        "error.session_ended": "Your session has ended. Please sign in again.",
        "error.rate_limited": "Too many requests. Please try again in {minutes} min.",
        "error.code_rejected": "That code was not accepted.",
        "error.link_invalid": "This link has expired or was already used. Ask for a new one.",
        "error.invalid_input": "Something you entered is not valid.",
        "error.not_found": "This item no longer exists.",
        "error.conflict": "This changed in the meantime. Please refresh and try again.",
        "error.too_large": "This is too large to send.",
        "error.rejected": "The server refused this request.",
        "error.server": "The server had a problem. Please try again later.",
        "error.unknown": "Something went wrong. Please try again.",
        # navigation
        "nav.home": "Home",
        "nav.activities": "Appointments",
        "nav.account": "Account",
        # home
        "home.welcome": "Hello {name}",
        "home.next": "Your next appointment",
        "home.no_next": "No appointment is planned. Call us or send an email to book one.",
        "home.contact": "Contact us",
        "home.call": "Call",
        "home.email": "Email",
        "home.directions": "Address",
        "home.see_all": "See all appointments",
        # activities
        "activities.title": "Appointments",
        "activities.upcoming": "Upcoming",
        "activities.past": "Past",
        "activities.empty_upcoming": "No upcoming appointment. To book one, contact the company "
        "from the Home tab.",
        "activities.empty_past": "No past appointment yet.",
        "activities.empty_never_synced": "Your appointments have not been downloaded yet. "
        "Connect to the internet and tap Refresh.",
        "activities.to_schedule": "Date to be set",
        "activities.technician": "Technician: {name}",
        "activities.window": "Arrival between {start} and {end}",
        "activities.at": "{date} at {time}",
        "activities.refresh": "Refresh",
        "activities.show_more": "Show more ({count} left)",
        # statuses
        "status.to_schedule": "To schedule",
        "status.scheduled": "Scheduled",
        "status.in_progress": "In progress",
        "status.done": "Done",
        "status.cancelled": "Cancelled",
        "status.unknown": "Unknown",
        # follow-up steps
        "step.created": "Request received",
        "step.scheduled": "Appointment set",
        "step.technician_assigned": "Technician assigned",
        "step.on_the_way": "Technician on the way",
        "step.started": "Work started",
        "step.completed": "Work completed",
        "step.cancelled": "Cancelled",
        "step.rescheduled": "Appointment changed",
        "step.unknown": "Update",
        # detail
        "detail.back": "Back to appointments",
        "detail.when": "When",
        "detail.where": "Address",
        "detail.technician": "Technician",
        "detail.no_technician": "Not assigned yet",
        "detail.description": "Details",
        "detail.timeline": "Follow-up",
        "detail.actions": "What you can do",
        "detail.no_actions": "Nothing to do right now.",
        "detail.report": "Intervention report",
        "detail.not_found": "This appointment is no longer available.",
        "detail.open_map": "Open in maps",
        "action.not_available_title": "Coming soon",
        "action.not_available": "“{label}” is not available yet in this version of the app. "
        "Please contact the company in the meantime.",
        "action.ok": "OK",
        # account
        "account.title": "Account",
        "account.signed_in_as": "Signed in as",
        "account.sync": "Synchronisation",
        "account.pending": "Changes waiting to be sent: {count}",
        "account.language": "Language",
        "account.sign_out": "Sign out",
        "account.sign_out_note": "Signing out removes your data from this device.",
        "account.memory_only": "This device has no secure storage for your session: "
        "you will have to sign in again next time.",
        "language.en": "English",
        "language.fr": "Français",
        # sync status
        "sync.syncing": "Updating…",
        "sync.updated": "Updated {time}",
        "sync.never": "Not updated yet",
        "sync.offline": "Offline — last updated {time}",
        "sync.offline_never": "Offline — nothing downloaded yet",
        "sync.error": "Update failed: {reason}",
        "sync.today_at": "{time}",
        "sync.day_at": "{date} {time}",
    },
    "fr": {
        "app.title": "Portail client",
        "signin.title": "Connexion",
        "signin.intro": "Saisissez l’adresse e-mail ou le numéro de téléphone que l’entreprise "
        "connaît. Nous vous enverrons un code à usage unique.",
        "signin.identifier": "E-mail ou numéro de téléphone",
        "signin.send_code": "Recevoir un code",
        "signin.code_sent": "Nous vous avons envoyé un code",
        "signin.code_sent_to": "Si {identifier} est connu, un code à 6 chiffres est en route. "
        "Il est valable 10 minutes.",
        "signin.code": "Code à 6 chiffres",
        "signin.verify": "Se connecter",
        "signin.resend": "Recevoir un nouveau code",
        "signin.resend_in": "Nouveau code possible dans {seconds} s",
        "signin.change_identifier": "Utiliser un autre e-mail ou téléphone",
        "signin.have_link": "J’ai un lien de connexion",
        "signin.link_title": "Connexion avec un lien",
        "signin.link_intro": "Collez le lien de connexion reçu de l’entreprise (l’adresse "
        "complète, ou seulement la partie après #).",
        "signin.link": "Lien de connexion",
        "signin.use_link": "Se connecter avec ce lien",
        "signin.back": "Retour",
        "signin.confirm_link_title": "Se connecter à {business_unit} ?",
        "signin.confirm_link_intro": "Vous avez ouvert un lien de connexion. Touchez le bouton "
        "pour continuer.",
        "signin.confirm_link": "Se connecter",
        "signin.error.empty_identifier": "Veuillez saisir votre e-mail ou votre numéro de "
        "téléphone.",
        "signin.error.bad_code_format": "Le code est composé des 6 chiffres reçus.",
        "signin.error.wrong_code": "Ce code n’est pas le bon. Essais restants : {tries}.",
        "signin.error.code_expired": "Ce code a expiré. Demandez-en un nouveau.",
        "signin.error.code_dead": "Ce code n’est plus utilisable. Demandez-en un nouveau.",
        "signin.error.rate_limited": "Trop de tentatives. Réessayez dans {minutes} min.",
        "signin.error.empty_link": "Veuillez coller votre lien de connexion.",
        "signin.memory_only": "Cet appareil ne peut pas conserver votre session de façon sûre : "
        "vous devrez vous reconnecter la prochaine fois.",
        "error.offline": "Pas de connexion au serveur. Vérifiez votre réseau et réessayez.",
        "error.session_ended": "Votre session a pris fin. Veuillez vous reconnecter.",
        "error.rate_limited": "Trop de demandes. Réessayez dans {minutes} min.",
        "error.code_rejected": "Ce code n’a pas été accepté.",
        "error.link_invalid": "Ce lien a expiré ou a déjà servi. Demandez-en un nouveau.",
        "error.invalid_input": "Une information saisie n’est pas valide.",
        "error.not_found": "Cet élément n’existe plus.",
        "error.conflict": "Ceci a changé entre-temps. Actualisez puis réessayez.",
        "error.too_large": "C’est trop volumineux pour être envoyé.",
        "error.rejected": "Le serveur a refusé cette demande.",
        "error.server": "Le serveur a rencontré un problème. Réessayez plus tard.",
        "error.unknown": "Une erreur est survenue. Veuillez réessayer.",
        "nav.home": "Accueil",
        "nav.activities": "Rendez-vous",
        "nav.account": "Compte",
        "home.welcome": "Bonjour {name}",
        "home.next": "Votre prochain rendez-vous",
        "home.no_next": "Aucun rendez-vous prévu. Appelez-nous ou écrivez-nous pour en "
        "prendre un.",
        "home.contact": "Nous contacter",
        "home.call": "Appeler",
        "home.email": "E-mail",
        "home.directions": "Adresse",
        "home.see_all": "Voir tous les rendez-vous",
        "activities.title": "Rendez-vous",
        "activities.upcoming": "À venir",
        "activities.past": "Passés",
        "activities.empty_upcoming": "Aucun rendez-vous à venir. Pour en prendre un, "
        "contactez l’entreprise depuis l’onglet Accueil.",
        "activities.empty_past": "Aucun rendez-vous passé pour l’instant.",
        "activities.empty_never_synced": "Vos rendez-vous ne sont pas encore téléchargés. "
        "Connectez-vous à internet puis touchez Actualiser.",
        "activities.to_schedule": "Date à fixer",
        "activities.technician": "Technicien : {name}",
        "activities.window": "Arrivée entre {start} et {end}",
        "activities.at": "{date} à {time}",
        "activities.refresh": "Actualiser",
        "activities.show_more": "Afficher plus ({count} restants)",
        "status.to_schedule": "À planifier",
        "status.scheduled": "Planifié",
        "status.in_progress": "En cours",
        "status.done": "Terminé",
        "status.cancelled": "Annulé",
        "status.unknown": "Inconnu",
        "step.created": "Demande reçue",
        "step.scheduled": "Rendez-vous fixé",
        "step.technician_assigned": "Technicien désigné",
        "step.on_the_way": "Technicien en route",
        "step.started": "Intervention commencée",
        "step.completed": "Intervention terminée",
        "step.cancelled": "Annulé",
        "step.rescheduled": "Rendez-vous modifié",
        "step.unknown": "Mise à jour",
        "detail.back": "Retour aux rendez-vous",
        "detail.when": "Quand",
        "detail.where": "Adresse",
        "detail.technician": "Technicien",
        "detail.no_technician": "Pas encore désigné",
        "detail.description": "Détails",
        "detail.timeline": "Suivi",
        "detail.actions": "Ce que vous pouvez faire",
        "detail.no_actions": "Rien à faire pour le moment.",
        "detail.report": "Rapport d’intervention",
        "detail.not_found": "Ce rendez-vous n’est plus disponible.",
        "detail.open_map": "Ouvrir dans le plan",
        "action.not_available_title": "Bientôt disponible",
        "action.not_available": "« {label} » n’est pas encore disponible dans cette version de "
        "l’application. En attendant, contactez l’entreprise.",
        "action.ok": "OK",
        "account.title": "Compte",
        "account.signed_in_as": "Connecté en tant que",
        "account.sync": "Synchronisation",
        "account.pending": "Modifications en attente d’envoi : {count}",
        "account.language": "Langue",
        "account.sign_out": "Se déconnecter",
        "account.sign_out_note": "La déconnexion efface vos données de cet appareil.",
        "account.memory_only": "Cet appareil ne peut pas conserver votre session de façon "
        "sûre : vous devrez vous reconnecter la prochaine fois.",
        "language.en": "English",
        "language.fr": "Français",
        "sync.syncing": "Mise à jour…",
        "sync.updated": "Mis à jour à {time}",
        "sync.never": "Pas encore mis à jour",
        "sync.offline": "Hors ligne — dernière mise à jour {time}",
        "sync.offline_never": "Hors ligne — rien n’est encore téléchargé",
        "sync.error": "Échec de la mise à jour : {reason}",
        "sync.today_at": "{time}",
        "sync.day_at": "{date} {time}",
    },
}


def normalize_language(value: str | None) -> str:
    """``fr_FR`` / ``fr-CA`` / ``FR`` -> ``fr``; anything unsupported -> ``en``."""
    lang = (value or DEFAULT_LANGUAGE).replace("-", "_").split("_")[0].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def parse_utc(value: str | None) -> datetime | None:
    """Parse the feed's UTC ISO text (``2026-11-23T09:00:00Z``); None stays None."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None  # a malformed date is shown as "no date", never a crash
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _zone(tz: str | None) -> str:
    try:
        ZoneInfo(tz or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return tz or DEFAULT_TIMEZONE


class _SafeDict(dict[str, object]):
    # A missing parameter shows as {name} rather than raising in the UI.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Translator:
    """One session's language and time zone; ``t`` and the date/time formatters."""

    def __init__(self, language: str = DEFAULT_LANGUAGE, timezone: str = DEFAULT_TIMEZONE):
        """Start in ``language`` (normalised) showing times in ``timezone``."""
        self.language = normalize_language(language)
        self.timezone = _zone(timezone)

    def set_language(self, language: str) -> None:
        """Switch language at runtime (the caller redraws)."""
        self.language = normalize_language(language)

    def set_timezone(self, timezone: str | None) -> None:
        """Use the business unit's time zone (unknown zones fall back to Paris)."""
        self.timezone = _zone(timezone)

    def t(self, key: str, **params: object) -> str:
        """The sentence for ``key`` in the current language, with ``params`` filled in.

        Falls back to English, then to the key itself, so a missing string is
        visible but never an exception.
        """
        text = MESSAGES[self.language].get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key) or key
        if not params:
            return text
        return string.Formatter().vformat(text, (), _SafeDict(params))

    # -- dates and times --------------------------------------------------

    def date(self, moment: datetime) -> str:
        """``Mon 23 Nov 2026`` / ``lun. 23 nov. 2026`` in the business unit's zone."""
        return format_date(moment, self.language, self.timezone)

    def time(self, moment: datetime) -> str:
        """``2:30 PM`` / ``14:30`` in the business unit's zone."""
        return format_time(moment, self.language, self.timezone)

    def date_time(self, moment: datetime) -> str:
        """``Mon 23 Nov 2026 at 2:30 PM``."""
        return self.t("activities.at", date=self.date(moment), time=self.time(moment))

    def arrival_window(self, start: datetime | None, end: datetime | None) -> str | None:
        """``Arrival between 8:00 AM and 10:00 AM``, or None without a full window."""
        if start is None or end is None:
            return None
        return self.t("activities.window", start=self.time(start), end=self.time(end))

    def moment_short(self, moment: datetime, now: datetime) -> str:
        """Time only when ``moment`` is today (in the zone), else date and time."""
        tz = ZoneInfo(self.timezone)
        if moment.astimezone(tz).date() == now.astimezone(tz).date():
            return self.t("sync.today_at", time=self.time(moment))
        return self.t("sync.day_at", date=self.date(moment), time=self.time(moment))

    def status(self, status: str) -> str:
        """Human label of an activity status."""
        key = f"status.{status}"
        return self.t(key) if key in MESSAGES[DEFAULT_LANGUAGE] else self.t("status.unknown")

    def step(self, code: str) -> str:
        """Human label of a follow-up step code."""
        key = f"step.{code}"
        return self.t(key) if key in MESSAGES[DEFAULT_LANGUAGE] else self.t("step.unknown")


# Process-wide default, for code without a session (CLI messages, tests).
default_translator = Translator()


def t(key: str, **params: object) -> str:
    """Translate ``key`` with the process-wide default translator."""
    return default_translator.t(key, **params)


def set_language(language: str) -> None:
    """Switch the process-wide default translator's language."""
    default_translator.set_language(language)


def current_language() -> str:
    """The process-wide default translator's language."""
    return default_translator.language
