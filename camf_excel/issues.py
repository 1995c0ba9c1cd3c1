"""The catalogue of validation issues: a stable code per rule, its severity and its French message.

Messages are templates filled with the details of one occurrence; each ends with what to do.
The README lists this catalogue (`catalogue_markdown`), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from camf_excel.model import ERROR, WARNING, Issue, Severity


@dataclass(frozen=True)
class Entry:
    """One rule of the catalogue."""

    severity: Severity
    scope: str
    summary: str
    message: str


def _entry(severity: Severity, scope: str, summary: str, message: str) -> Entry:
    return Entry(severity, scope, summary, message)


_FILE, _SHEET, _IDENT, _CELL, _ROW = "fichier", "feuille", "Identification", "cellule", "ligne"
_SAVE_AS = "ouvrez-le dans Excel ou LibreOffice et enregistrez-le au format .xlsx"

CATALOGUE: dict[str, Entry] = {
    # -- the file as a whole
    "FICHIER_IGNORE": _entry(WARNING, _FILE, "élément du dossier laissé de côté (PDF, lien, tube…)",
                             "{detail}"),
    "ENTREE_INTROUVABLE": _entry(ERROR, _FILE, "fichier ou dossier nommé sur la ligne de commande absent",
                                 "{detail} : vérifiez le chemin ; les autres entrées ont été lues"),
    "FICHIER_VIDE": _entry(ERROR, _FILE, "fichier vide",
                           "fichier vide (0 octet) : demandez à l'expéditeur de renvoyer le classeur"),
    "FICHIER_TROP_GROS": _entry(ERROR, _FILE, "fichier trop volumineux", "{detail}"),
    "PAS_UN_CLASSEUR": _entry(ERROR, _FILE, "pas un classeur (PDF, texte, Word…)", "{detail}"),
    "FICHIER_ENDOMMAGE": _entry(ERROR, _FILE, "archive tronquée ou endommagée (somme de contrôle, "
                                "parties en double)", "{detail}"),
    "FICHIER_PROTEGE": _entry(ERROR, _FILE, "classeur chiffré par mot de passe", "{detail}"),
    "FICHIER_INACCESSIBLE": _entry(ERROR, _FILE, "fichier que le système ne laisse pas lire (ouvert dans "
                                   "Excel, OneDrive « en ligne seulement », droits)", "{detail}"),
    "FICHIER_DANGEREUX": _entry(ERROR, _FILE, "bombe de décompression, DTD, dimensions absurdes",
                                "{detail} ; le fichier n'a pas été lu : demandez une nouvelle copie"),
    "FICHIER_ILLISIBLE": _entry(ERROR, _FILE, "le lecteur n'a pas pu lire le fichier",
                                "fichier illisible ({detail}) : " + _SAVE_AS + ", puis renvoyez-le"),
    "FORMAT_NON_STANDARD": _entry(WARNING, _FILE, ".xlsm, .xltx, .xlsb ou .xls lu quand même",
                                  "{detail} ; les valeurs ont été lues, mais les listes déroulantes "
                                  "et les formules du classeur peuvent manquer"),
    "MODELE_INCONNU": _entry(WARNING, _FILE, "classeur qui ne vient pas de camf-excel generate",
                             "{detail} : le classeur a été lu d'après ses en-têtes avec le modèle "
                             "« {template} » ; utilisez de préférence un classeur produit par "
                             "camf-excel generate"),
    "MODELE_VERSION_RECENTE": _entry(ERROR, _FILE, "version du modèle plus récente que l'outil",
                                     "modèle « {template} » version {version}, plus récente que "
                                     "celle que connaît cet outil ({known}) : mettez camf-excel à "
                                     "jour ; en attendant, le classeur a été lu d'après ses en-têtes "
                                     "(ce qui est nouveau peut manquer) et ne peut pas être reconduit"),
    # -- sheets and columns
    "FEUILLE_MANQUANTE": _entry(ERROR, _SHEET, "feuille absente",
                                "feuille « {expected} » introuvable (feuilles présentes : {present}) : "
                                "remettez la feuille du classeur de suivi, sous ce nom"),
    "FEUILLE_RENOMMEE": _entry(WARNING, _SHEET, "feuille renommée, retrouvée par son contenu",
                               "la feuille « {expected} » a été renommée « {found} » : elle a été "
                               "lue quand même ; redonnez-lui son nom"),
    "ENTETE_INTROUVABLE": _entry(ERROR, _SHEET, "ligne d'en-têtes du Plan d'action introuvable",
                                 "ligne d'en-têtes introuvable dans les {rows} premières lignes : "
                                 "remettez les en-têtes du modèle (No, Champ d'action, Action…)"),
    "COLONNE_OBLIGATOIRE_MANQUANTE": _entry(ERROR, _SHEET, "colonne obligatoire absente ou renommée",
                                            "colonne obligatoire « {header} » introuvable : "
                                            "remettez-la, avec cet en-tête"),
    "COLONNE_MANQUANTE": _entry(WARNING, _SHEET, "colonne facultative absente ou renommée",
                                "colonne « {header} » introuvable : ses valeurs manqueront au "
                                "bilan ; remettez-la, avec cet en-tête"),
    "COLONNE_SUPPLEMENTAIRE": _entry(WARNING, _CELL, "colonne ajoutée au modèle",
                                     "colonne « {header} » ajoutée au modèle : ses valeurs sont "
                                     "gardées telles quelles, sans validation"),
    "COLONNE_EN_DOUBLE": _entry(WARNING, _CELL, "deux colonnes portent le même en-tête",
                                "deuxième colonne « {header} » : seule la première ({first}) est "
                                "lue ; supprimez ou renommez celle-ci"),
    "FEUILLE_PLAN_SUPPLEMENTAIRE": _entry(WARNING, _SHEET, "autre feuille qui contient aussi des actions",
                                          "la feuille « {sheet_name} » contient aussi {rows} ligne(s) "
                                          "d'actions sous des en-têtes du Plan d'action : elles ne sont "
                                          "pas lues (seule la feuille « {plan} » l'est) ; reportez-les "
                                          "dans « {plan} » puis supprimez cette feuille"),
    "AUCUNE_ACTION": _entry(WARNING, _SHEET, "Plan d'action sans aucune action",
                            "aucune action sous la ligne d'en-têtes : inscrivez les actions du plan"),
    # -- Identification
    "IDENTIFICATION_MANQUANTE": _entry(ERROR, _IDENT, "renseignement obligatoire vide ou absent",
                                       "« {label} » est obligatoire : inscrivez-le dans la feuille "
                                       "Identification"),
    "IDENTIFICATION_INVALIDE": _entry(ERROR, _IDENT, "renseignement illisible ou hors liste",
                                      "« {label} » : {detail}"),
    "ANNEES_PLAN_INVERSEES": _entry(ERROR, _IDENT, "année de fin du plan avant l'année de début",
                                    "l'année de fin du plan ({end}) précède l'année de début "
                                    "({start}) : corrigez l'une des deux"),
    "PERIODE_HORS_PLAN": _entry(WARNING, _IDENT, "période de suivi hors des années du plan",
                                "la période de suivi {periode} est hors des années du plan "
                                "({start}–{end}) : vérifiez la période ou les années du plan"),
    "PERIODE_DIFFERENTE": _entry(WARNING, _IDENT, "période du classeur autre que celle demandée",
                                 "le classeur porte sur la période {found}, la validation sur "
                                 "{expected} : les retards sont calculés pour {expected} ; "
                                 "vérifiez qu'il s'agit du bon fichier"),
    # -- cells of the Plan d'action
    "CELLULE_ERREUR": _entry(ERROR, _CELL, "erreur Excel dans une cellule (#REF!, #N/A…)",
                             "la cellule contient l'erreur {value} : remplacez-la par une valeur"),
    "FORMULE_ERREUR": _entry(WARNING, _CELL, "formule calculée abîmée (recalculée par l'outil)",
                             "la formule « {header} » donne {value} : l'outil a recalculé la "
                             "valeur ; recopiez la formule d'une autre ligne"),
    "CELLULES_FUSIONNEES": _entry(WARNING, _CELL, "cellules fusionnées sur plusieurs actions",
                                  "cellules {range} fusionnées : la valeur a été reprise pour "
                                  "chaque ligne ; annulez la fusion"),
    "FORMULE_SANS_VALEUR": _entry(WARNING, _CELL, "formule sans valeur calculée dans une cellule de saisie",
                                  "la cellule contient une formule dont la valeur n'a pas été "
                                  "enregistrée : elle est lue comme vide ; remplacez la formule par sa "
                                  "valeur (copier, puis collage spécial : valeurs)"),
    "LIGNE_HORS_TABLEAU": _entry(ERROR, _ROW, "action inscrite sous le tableau du Plan d'action",
                                 "ligne {row} sous le tableau (qui finit à la ligne {last}) : ni le "
                                 "tableau de bord du classeur ni la consolidation ne la comptent ; "
                                 "inscrivez l'action dans une ligne vide du tableau"),
    "TEXTE_NETTOYE": _entry(WARNING, _CELL, "caractères de contrôle retirés d'un texte",
                            "le texte contenait des caractères invisibles ou invalides, retirés ; "
                            "vérifiez le texte de la cellule"),
    "TEXTE_TROP_LONG": _entry(ERROR, _CELL, "texte plus long qu'une cellule Excel",
                              "« {header} » : texte de plus de {limit} caractères, la limite d'une "
                              "cellule Excel ; raccourcissez-le"),
    "TEXTE_TRONQUE": _entry(WARNING, _CELL, "texte plus long qu'une cellule Excel, tronqué",
                            "texte de {length} caractères, plus que ce qu'une cellule Excel contient "
                            "({limit}) : seuls les {limit} premiers sont gardés ; raccourcissez-le"),
    "VALEUR_OBLIGATOIRE": _entry(ERROR, _CELL, "cellule obligatoire vide",
                                 "« {header} » est obligatoire pour chaque action : remplissez la "
                                 "cellule"),
    "STATUT_MANQUANT": _entry(ERROR, _CELL, "statut vide pour une action commencée",
                              "l'action commence en {start}, la période de suivi est {periode} : "
                              "choisissez son statut dans la liste"),
    "STATUT_INCONNU": _entry(ERROR, _CELL, "statut hors de la liste",
                             "statut « {value} » inconnu : choisissez dans la liste ({items})"),
    "VALEUR_HORS_LISTE": _entry(ERROR, _CELL, "valeur hors de la liste déroulante",
                                "« {value} » n'est pas dans la liste « {header} » : choisissez "
                                "dans la liste ({items})"),
    "VALEUR_VARIANTE": _entry(WARNING, _CELL, "valeur écrite autrement que dans la liste, reconnue",
                              "« {value} » a été lu comme « {canonical} » : choisissez « {canonical} » "
                              "dans la liste"),
    "NOMBRE_EN_TEXTE": _entry(WARNING, _CELL, "nombre écrit comme du texte (non compté)",
                              "« {header} » : « {value} » est écrit comme du texte, pas comme un "
                              "nombre : ni le tableau de bord du classeur ni la consolidation ne le "
                              "comptent ; inscrivez le nombre {suggestion}"),
    "NOMBRE_AMBIGU": _entry(ERROR, _CELL, "nombre dont le sens est ambigu (1,500 ou 1.500)",
                            "« {header} » : {detail} ; inscrivez le nombre sans séparateur de milliers "
                            "(1500 ou 1,5)"),
    "NOMBRE_INVALIDE": _entry(ERROR, _CELL, "texte dans une cellule de nombre ou d'année",
                              "« {header} » : {detail} ; inscrivez un nombre seul"),
    "POURCENTAGE_INVALIDE": _entry(ERROR, _CELL, "avancement hors de 0–100 %",
                                   "« {header} » : {detail} ; inscrivez un pourcentage de 0 à 100"),
    "POURCENTAGE_FORMAT": _entry(WARNING, _CELL, "avancement saisi avec le signe %",
                                 "« {header} » : saisi avec le signe % ({shown}), lu {percent} % ; le "
                                 "tableau de bord du classeur le compte comme {raw} % : inscrivez "
                                 "{percent} sans le signe % (ou choisissez dans la liste)"),
    "MONTANT_NEGATIF": _entry(ERROR, _CELL, "montant négatif",
                              "« {header} » : montant négatif ({value}) ; inscrivez un montant "
                              "positif ou nul"),
    "DATE_INVALIDE": _entry(ERROR, _CELL, "date impossible ou illisible",
                            "« {header} » : {detail} ; inscrivez une date aaaa-mm-jj"),
    "DATE_ANNEE": _entry(ERROR, _CELL, "année seule dans une cellule de date",
                         "« {header} » : {detail} ; inscrivez une date complète aaaa-mm-jj"),
    "DATE_INVRAISEMBLABLE": _entry(WARNING, _CELL, "date antérieure au plan",
                                   "« {header} » : le {value} précède le début du plan ({start}) ; "
                                   "vérifiez la date"),
    "DATE_FUTURE": _entry(ERROR, _CELL, "date dans le futur",
                          "« {header} » : le {value} est dans le futur (aujourd'hui : {today}) ; "
                          "corrigez la date"),
    "ANNEE_HORS_PLAN": _entry(WARNING, _CELL, "année hors des années du plan",
                              "« {header} » : l'année {value} est hors des années du plan "
                              "({start}–{end}) ; vérifiez l'année"),
    "ANNEE_INVRAISEMBLABLE": _entry(ERROR, _CELL, "année impossible (hors de 1900–2100)",
                                    "« {header} » : {value} n'est pas une année plausible ({first}–{last}) ; "
                                    "inscrivez l'année, par exemple 2026"),
    "FIN_AVANT_DEBUT": _entry(ERROR, _CELL, "fin prévue avant le début",
                              "la fin prévue ({end}) précède le début ({start}) : corrigez l'une "
                              "des deux années"),
    "NO_EN_DOUBLE": _entry(ERROR, _CELL, "numéro d'action en double",
                           "le numéro « {value} » est déjà utilisé en {first} : donnez à chaque "
                           "action un numéro unique"),
    "STATUT_AVANCEMENT_INCOHERENT": _entry(ERROR, _CELL, "statut et avancement contradictoires",
                                           "statut « {statut} » avec un avancement de {avancement} % "
                                           ": {remedy}"),
    "COMMENTAIRE_MANQUANT": _entry(WARNING, _CELL, "action abandonnée ou reportée sans explication",
                                   "action « {statut} » sans commentaire : expliquez pourquoi dans "
                                   "« Commentaires »"),
    # -- consolidation
    "CLASSEUR_MIS_DE_COTE": _entry(WARNING, _FILE, "deuxième classeur pour une organisation et une "
                                   "période (conflit)",
                                   "même organisation et même période ({periode}) que {kept} : ce "
                                   "classeur est mis de côté ({reason}) et ses {rows} ligne(s) ne sont "
                                   "pas consolidées ; retirez le fichier en trop ou corrigez sa feuille "
                                   "Identification"),
    "TERRITOIRE_INTROUVABLE": _entry(WARNING, _IDENT, "organisation absente du fichier des territoires",
                                     "« {organisation} » : {detail} ; vérifiez le nom et le code "
                                     "géographique dans la feuille Identification"),
    "CODE_GEO_DISCORDANT": _entry(WARNING, _IDENT, "code géographique d'une autre municipalité",
                                  "« {organisation} » : {detail} ; corrigez le code géographique dans "
                                  "la feuille Identification"),
}


def path_text(path: object) -> str:
    """Return a file name as text for tables and reports: undecodable bytes shown as \\xNN.

    A name from a Windows zip unpacked on Linux (« Sainte-Th\\xe8cle.xlsx ») reaches Python with
    lone surrogates, which no UTF-8 output accepts; the file is still read through its real path.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


# Issues that come from what the coordinator asked (--periode), not from the file: nothing for the
# staff to correct, so they alone never call for an annotated copy.
COORDINATOR_CODES = frozenset({"PERIODE_DIFFERENTE"})


def for_staff(issue: Issue) -> bool:
    """Tell whether the staff who filled the workbook have something to do about this issue."""
    return issue.code not in COORDINATOR_CODES


def make_issue(code: str, file: str, *, sheet: str = "", cell: str = "", row: int | None = None,
               column: str = "", value: object = "", **details: object) -> Issue:
    """Build the issue of a catalogued rule, its message filled with the occurrence's details."""
    entry = CATALOGUE[code]
    shown = display_value(value)
    # Details quote sheet names, headers, cell texts: one printable line, whatever the file held.
    safe = {key: display_value(d) if isinstance(d, str) else d for key, d in details.items()}
    message = entry.message.format(value=shown, row=row, **safe)
    return Issue(entry.severity, code, path_text(file), sheet, cell, row, column, shown, message)


def display_value(value: object) -> str:
    """Show a cell value as read, in one line, without characters that could drive a terminal."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return "".join(char if char.isprintable() or char == " " else repr(char)[1:-1] for char in text)


def catalogue_markdown() -> str:
    """Return the catalogue as a Markdown table (code, severity, scope, what it catches)."""
    lines = ["| code | gravité | porte sur | ce qui est signalé |", "| --- | --- | --- | --- |"]
    lines += [f"| `{code}` | {e.severity} | {e.scope} | {e.summary} |" for code, e in CATALOGUE.items()]
    return "\n".join(lines)
