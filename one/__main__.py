from one._cli import app

app(prog_name="one")
