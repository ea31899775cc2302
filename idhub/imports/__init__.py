"""Spreadsheet imports of joiners: a wing over `identity`.

`reader` tells a spreadsheet by its bytes and refuses anything else (other formats,
macros, zip bombs, wrong encodings); `columns` names the Vietnamese headers; `checks`
checks every row against the rules and the database; `service` keeps a checked upload
for confirmation and applies it as one batch through the bulk path; `sheets` makes the
template and the error report (formula-safe); `api` is POST /api/v1/imports.
"""
