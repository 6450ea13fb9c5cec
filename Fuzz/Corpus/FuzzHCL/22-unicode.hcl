name = "Zürich – 東京 – 🚀"
block "ünïcödé" { value = "ok" }
