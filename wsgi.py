from blocklist import create_app

app = create_app()
