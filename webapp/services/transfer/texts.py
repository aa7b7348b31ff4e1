"""What a transfer's pages and errors say: step labels, why a line is not sent, error texts."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from webapp.models import Transfer

STEP_LABELS = {
    "waiting": _l("Väntar på en ledig arbetsprocess…"),
    "retry_wait": _l("Väntar på nytt försök…"),
    "reconciling": _l("Kontrollerar vad Nmbrs redan har…"),
    "sending": _l("Skickar till Nmbrs…"),
    "undoing": _l("Tar bort beloppen i Nmbrs…"),
}

# Why a line is not sent. The first three leave nothing to do: the report counts as sent.
SKIP_REASONS = {
    "not_included": _l("Skickas inte enligt Avancerade inställningar."),
    "zero": _l("Beloppet är 0 kr."),
    "already_sent": _l("Redan skickad i en tidigare överföring."),
    "no_employee": _l("Den anställda är inte kopplad till någon anställd i Nmbrs."),
    "no_employee_number": _l("Den anställda saknar anställningsnummer."),
    "no_wage_type": _l("Ingen löneart är vald för det här värdet i Avancerade inställningar."),
    "wage_type_missing": _l("Lönearten finns inte bland lönearterna från Nmbrs."),
    "wage_type_archived": _l("Lönearten är arkiverad i Nmbrs."),
    "wage_type_not_numeric": _l("Nmbrs lönearter är nummer; den valda lönearten är inget nummer."),
    "period_locked": _l(
        "Perioden är låst: den ligger före Nmbrs aktuella period. Bekräfta att beloppen ska "
        "in i en passerad period för att skicka dem."
    ),
    "in_transfer": _l("Ingår i en överföring som inte är klar."),
}
DONE_REASONS = {"not_included", "zero", "already_sent"}

ERROR_TEXTS = {
    "unavailable": _l(
        "Nmbrs svarar inte just nu. Inget har skickats dubbelt: nästa försök läser först vad "
        "Nmbrs redan har och skickar bara det som saknas."
    ),
    "interrupted": _l(
        "Överföringen avbröts (arbetsprocessen stoppades). Klicka på Försök igen: Brygga läser "
        "först vad Nmbrs redan har och skickar bara det som saknas."
    ),
    "unconfirmed": _l(
        "Nmbrs tog emot beloppet men visar det inte när Brygga läser tillbaka. Kontrollera "
        "den anställdas lönekomponenter i Nmbrs innan du skickar igen."
    ),
    "uncertain": _l(
        "Osäker: svaret från Nmbrs kom aldrig fram och Brygga kan inte avgöra om raden finns i "
        "Nmbrs (den anställda har ett lika stort belopp på samma löneart). Raden skickas inte "
        "igen av sig själv: kontrollera den anställdas lönekomponenter i Nmbrs."
    ),
    "undo_incomplete": _l(
        "Alla belopp kunde inte tas bort i Nmbrs. Försök ångra igen om en stund."
    ),
    "undo_unknown": _l(
        "Några belopp togs inte bort: den anställda har lika stora belopp på samma löneart i "
        "Nmbrs och Brygga kan inte avgöra vilket som är Bryggas. Ta bort dem för hand i Nmbrs."
    ),
    "error": _l("Överföringen misslyckades av ett okänt skäl. Försök igen."),
}


class TransferError(Exception):
    """A transfer that cannot be made or changed; the message is for the admin."""

    def __init__(self, message: str, transfer: Transfer | None = None) -> None:
        super().__init__(message)
        self.user_message = message
        self.transfer = transfer


# Said when Redis does not answer as a transfer or an undo is asked for.
QUEUE_DOWN = _l(
    "Kön för bakgrundsjobb svarar inte just nu, så överföringen kunde inte startas. "
    "Ingenting skickades; försök igen om en liten stund."
)
