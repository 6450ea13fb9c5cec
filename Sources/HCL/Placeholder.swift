public enum HCLPlaceholder {}
