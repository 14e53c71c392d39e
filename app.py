"""The fer_model demo (fer_model/app.py): `python app.py [--model ...]`, a Space's app file."""

from fer_model.app import as_script

demo = as_script(__name__ == "__main__")
