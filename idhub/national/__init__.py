"""The national exchange: signed exports of personnel records, verification, signed imports."""
